import { randomUUID } from 'node:crypto';
import { killAllServices, startService } from '../helpers/service-process';
import { testEndpoint } from '../helpers/test-app';

afterAll(() => killAllServices());

describe('METRICS_EMF=true on the built service (main.ts)', () => {
  it('writes EMF lines for its traffic on stdout, the rest of the minute flushed on SIGTERM', async () => {
    const table = `e2e-${randomUUID()}`;
    const service = await startService({
      DYNAMODB_ENDPOINT: testEndpoint(),
      DYNAMODB_TABLE: table,
      METRICS_EMF: 'true',
    });
    const post = (path: string, body: object) =>
      fetch(`${service.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    // The service creates its table in the background on a URL endpoint; /readyz says when it answers.
    for (let tries = 0; (await fetch(`${service.url}/readyz`)).status !== 200; tries++) {
      if (tries > 100) throw new Error('the service never became ready');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const userId = `emf-${randomUUID().slice(0, 8)}`;
    expect((await post('/streams/add', { userId, streamId: 'a' })).status).toBe(201);
    expect((await post('/streams/heartbeat', { userId, streamId: 'a' })).status).toBe(200);
    expect(await service.stop('SIGTERM')).toBe(0);

    const events = service
      .output()
      .split('\n')
      .filter((line) => line.includes('"_aws"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const sum = (name: string) =>
      events.reduce((total, e) => total + (typeof e[name] === 'number' ? (e[name] as number) : 0), 0);
    expect(events.every((e) => e.Table === table)).toBe(true);
    expect(sum('Admissions')).toBe(1);
    expect(sum('Heartbeats')).toBe(1);
    expect(sum('ConcurrentStreamsEstimate')).toBeCloseTo(1, 5);
    expect(events.some((e) => e.Operation === 'UpdateItem' && (e.DynamoDbWriteUnits as number) >= 2)).toBe(true);
  });
});
