import { createServer, type Server } from 'node:net';
import request from 'supertest';
import { startDynamoProxy, type DynamoProxy } from '../../support/dynamo-proxy';
import { createTestApp, testEndpoint, uniqueId, type TestApp } from '../helpers/test-app';

const TIMEOUT_MS = 300;
// The bound plus scheduling slack on a busy 2-core box.
const ANSWER_WITHIN_MS = TIMEOUT_MS + 700;

async function timed(action: () => Promise<request.Response>): Promise<{ res: request.Response; ms: number }> {
  const started = Date.now();
  const res = await action();
  return { res, ms: Date.now() - started };
}

function expectUnavailable(res: request.Response): void {
  expect(res.status).toBe(503);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body.code).toBe('STORE_UNAVAILABLE');
  expect(res.headers['retry-after']).toBe('1');
}

describe('store unreachable (closed port)', () => {
  let closedPort: number;
  let t: TestApp;
  beforeAll(async () => {
    const probe: Server = createServer();
    closedPort = await new Promise((resolve) =>
      probe.listen(0, '127.0.0.1', () => resolve((probe.address() as { port: number }).port)),
    );
    await new Promise((resolve) => probe.close(resolve));
    t = await createTestApp(
      { DYNAMODB_TIMEOUT_MS: String(TIMEOUT_MS) },
      { endpoint: `http://127.0.0.1:${closedPort}`, table: 'never-created' },
    );
  });
  afterAll(() => t.close());

  it.each([
    ['add', () => request(t.app).post('/streams/add').send({ userId: uniqueId() })],
    ['heartbeat', () => request(t.app).post('/streams/heartbeat').send({ userId: uniqueId(), streamId: 's' })],
    ['remove', () => request(t.app).post('/streams/remove').send({ userId: uniqueId() })],
    ['list', () => request(t.app).get(`/users/${uniqueId()}/streams`)],
  ])('answers %s with a bounded 503 STORE_UNAVAILABLE and Retry-After', async (_name, call) => {
    const { res, ms } = await timed(call);
    expectUnavailable(res);
    expect(ms).toBeLessThan(ANSWER_WITHIN_MS);
  });

  it('turns /readyz 503 while /healthz stays 200', async () => {
    expect((await request(t.app).get('/readyz')).status).toBe(503);
    expect((await request(t.app).get('/healthz')).status).toBe(200);
  });
});

describe('store faults through a proxy, and recovery', () => {
  let proxy: DynamoProxy;
  let t: TestApp;
  beforeAll(async () => {
    proxy = await startDynamoProxy(testEndpoint());
    t = await createTestApp({ DYNAMODB_TIMEOUT_MS: String(TIMEOUT_MS) }, { endpoint: proxy.endpoint });
  });
  afterEach(() => proxy.setFault({ mode: 'pass' }));
  afterAll(async () => {
    t.close();
    await proxy.close();
  });

  it.each(['delay', 'refuse', 'reset', 'error500', 'throttle', 'drop-response'] as const)(
    'answers a bounded 503 under %s, keeps what was admitted before, and recovers by itself',
    async (mode) => {
      const userId = uniqueId();
      await request(t.app).post('/streams/add').send({ userId, streamId: 'before' }).expect(201);
      await proxy.setFault({ mode, delayMs: TIMEOUT_MS * 4 });
      const { res, ms } = await timed(() => request(t.app).post('/streams/add').send({ userId, streamId: 'during' }));
      expectUnavailable(res);
      expect(ms).toBeLessThan(ANSWER_WITHIN_MS);
      expect((await request(t.app).get('/readyz')).status).toBe(503);

      await proxy.setFault({ mode: 'pass' });
      // The player retries with the same streamId: 200 if the lost attempt was applied, else 201; never two slots.
      const retry = await request(t.app).post('/streams/add').send({ userId, streamId: 'during' });
      expect([200, 201]).toContain(retry.status);
      if (mode === 'drop-response') expect(retry.status).toBe(200);
      const listed = await request(t.app).get(`/users/${userId}/streams`).expect(200);
      expect(listed.body.streams.map((s: { streamId: string }) => s.streamId).sort()).toEqual(['before', 'during']);
      expect((await request(t.app).get('/readyz')).status).toBe(200);
    },
  );
});
