import { randomUUID } from 'node:crypto';
import { killAllServices, startService } from '../helpers/service-process';
import { testEndpoint } from '../helpers/test-app';

afterAll(() => killAllServices());

describe('METRICS_PORT', () => {
  it('serves /metrics only on its own port (404 on PORT), and drains both listeners on SIGTERM', async () => {
    const service = await startService({
      DYNAMODB_ENDPOINT: testEndpoint(),
      DYNAMODB_TABLE: `e2e-${randomUUID()}`,
      METRICS_PORT: '0',
    });
    const metricsPort = Number(/"metricsPort":(\d+)/.exec(service.output())?.[1]);
    expect(metricsPort).toBeGreaterThan(0);
    expect(metricsPort).not.toBe(service.port);
    const metricsUrl = `http://127.0.0.1:${metricsPort}`;

    const onPort = await fetch(`${service.url}/metrics`);
    expect(onPort.status).toBe(404);
    expect(onPort.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await onPort.json()).toMatchObject({ status: 404, code: 'NOT_FOUND' });

    const scraped = await fetch(`${metricsUrl}/metrics`);
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toMatch(/^process_resident_memory_bytes /m);
    expect((await fetch(`${metricsUrl}/healthz`)).status).toBe(404);

    // A keep-alive scraper connection must not hold the drain up.
    const keptAlive = await fetch(`${metricsUrl}/metrics`, { headers: { connection: 'keep-alive' } });
    await keptAlive.text();
    const started = Date.now();
    expect(await service.stop('SIGTERM')).toBe(0);
    expect(Date.now() - started).toBeLessThan(3_000);
    await expect(fetch(`${metricsUrl}/metrics`)).rejects.toThrow();
  });

  it('keeps /metrics on PORT when unset', async () => {
    const service = await startService({ DYNAMODB_ENDPOINT: testEndpoint(), DYNAMODB_TABLE: `e2e-${randomUUID()}` });
    try {
      expect((await fetch(`${service.url}/metrics`)).status).toBe(200);
      expect(service.output()).not.toMatch(/metricsPort/);
    } finally {
      expect(await service.stop('SIGTERM')).toBe(0);
    }
  });
});
