import { createServer } from 'node:net';
import request from 'supertest';
import { createMetrics } from '../../src/metrics';
import { createTestApp, uniqueId, type TestApp } from '../helpers/test-app';

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

function parse(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match) throw new Error(`not a Prometheus sample: ${line}`);
      const labels = Object.fromEntries(
        [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]),
      );
      return { name: match[1]!, labels, value: Number(match[3]) };
    });
}

/** Sum of the samples of `name` whose labels include `labels`. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter(
      (sample) =>
        sample.name === name && Object.entries(labels).every(([key, wanted]) => sample.labels[key] === wanted),
    )
    .reduce((sum, sample) => sum + sample.value, 0);
}

async function scrape(t: TestApp, path = '/metrics'): Promise<Sample[]> {
  const res = await request(t.app).get(path);
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return parse(res.text);
}

describe('GET /metrics after traffic', () => {
  let t: TestApp;
  let text: string;
  let samples: Sample[];
  const userId = uniqueId('metrics');

  beforeAll(async () => {
    t = await createTestApp({ STREAM_LIMIT: '3', LEASE_SECONDS: '90' }, { deps: { metrics: createMetrics() } });
    const add = (streamId: string) => request(t.app).post('/streams/add').send({ userId, streamId });
    for (const streamId of ['a', 'b', 'c']) expect((await add(streamId)).status).toBe(201);
    expect((await add('d')).status).toBe(409);
    expect((await request(t.app).post('/streams/remove').send({ userId, streamId: 'a' })).status).toBe(200);
    expect((await request(t.app).post('/streams/heartbeat').send({ userId, streamId: 'a' })).status).toBe(410);
    expect((await request(t.app).post('/streams/heartbeat').send({ userId, streamId: 'b' })).status).toBe(200);
    expect((await request(t.app).get(`/users/${userId}/streams`)).status).toBe(200);
    expect((await request(t.app).get(`/no/such/${userId}`)).status).toBe(404);
    expect((await request(t.app).post('/streams/add').send({ userId, bogus: 1 })).status).toBe(400);

    // Two players go silent and their leases expire. 'e' takes the one-write fast path (the
    // stored count, expired leases included, is below the limit), which prunes nothing; 'f'
    // finds the count at the limit, so the rules decide on the item and prune both.
    t.clock.advance(91_000);
    expect((await add('e')).status).toBe(201);
    expect((await add('f')).status).toBe(201);

    const res = await request(t.app).get('/metrics');
    text = res.text;
    samples = parse(text);
  });
  afterAll(() => t.close());

  it('counts requests by route pattern, method and status', () => {
    expect(value(samples, 'http_requests_total', { method: 'POST', route: '/streams/add', status: '201' })).toBe(5);
    expect(value(samples, 'http_requests_total', { method: 'POST', route: '/streams/add', status: '409' })).toBe(1);
    expect(value(samples, 'http_requests_total', { method: 'POST', route: '/streams/add', status: '400' })).toBe(1);
    expect(value(samples, 'http_requests_total', { method: 'POST', route: '/streams/heartbeat', status: '410' })).toBe(
      1,
    );
    expect(
      value(samples, 'http_requests_total', { method: 'GET', route: '/users/:userId/streams', status: '200' }),
    ).toBe(1);
    expect(value(samples, 'http_requests_total', { method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
  });

  it('times requests in a histogram with the same labels', () => {
    expect(value(samples, 'http_request_duration_seconds_count', { route: '/streams/add', status: '201' })).toBe(5);
    expect(
      value(samples, 'http_request_duration_seconds_bucket', { route: '/streams/add', status: '201', le: '+Inf' }),
    ).toBe(5);
    expect(
      value(samples, 'http_request_duration_seconds_sum', { route: '/streams/add', status: '201' }),
    ).toBeGreaterThan(0);
  });

  it('never puts a raw URL or an id in a label', () => {
    expect(text).not.toContain(userId);
    const routes = new Set(samples.filter((s) => s.name === 'http_requests_total').map((s) => s.labels.route));
    expect([...routes].sort()).toEqual([
      '/streams/add',
      '/streams/heartbeat',
      '/streams/remove',
      '/users/:userId/streams',
      'unmatched',
    ]);
  });

  it('counts admissions, 409 rejections, 410 terminations and pruned expired leases', () => {
    expect(value(samples, 'stream_limiter_admissions_total')).toBe(5);
    expect(value(samples, 'stream_limiter_rejections_total')).toBe(1);
    expect(value(samples, 'stream_limiter_terminated_heartbeats_total')).toBe(1);
    expect(value(samples, 'stream_limiter_expired_leases_pruned_total')).toBe(2);
  });

  it('times DynamoDB calls by operation and outcome, with store errors at zero', () => {
    expect(
      value(samples, 'stream_limiter_dynamodb_call_duration_seconds_count', { operation: 'UpdateItem', outcome: 'ok' }),
    ).toBeGreaterThanOrEqual(6);
    expect(
      value(samples, 'stream_limiter_dynamodb_call_duration_seconds_count', {
        operation: 'UpdateItem',
        outcome: 'condition-failed',
      }),
    ).toBeGreaterThanOrEqual(2);
    expect(
      value(samples, 'stream_limiter_dynamodb_call_duration_seconds_count', { operation: 'GetItem', outcome: 'ok' }),
    ).toBeGreaterThanOrEqual(1);
    for (const kind of ['timeout', 'throttled', 'unreachable', 'missing-table', 'error']) {
      expect(samples).toContainEqual({ name: 'stream_limiter_store_errors_total', labels: { kind }, value: 0 });
    }
  });

  it('counts the scrapes themselves under /metrics', async () => {
    const again = await scrape(t);
    expect(
      value(again, 'http_requests_total', { method: 'GET', route: '/metrics', status: '200' }),
    ).toBeGreaterThanOrEqual(1);
  });
});

describe('GET /metrics with the store unreachable', () => {
  let t: TestApp;
  beforeAll(async () => {
    const probe = createServer();
    const closedPort = await new Promise<number>((resolve) =>
      probe.listen(0, '127.0.0.1', () => resolve((probe.address() as { port: number }).port)),
    );
    await new Promise((resolve) => probe.close(resolve));
    t = await createTestApp(
      { DYNAMODB_TIMEOUT_MS: '300' },
      { endpoint: `http://127.0.0.1:${closedPort}`, table: 'never-created', deps: { metrics: createMetrics() } },
    );
  });
  afterAll(() => t.close());

  it('counts store errors by kind and the 503s they cause, and still answers', async () => {
    expect((await request(t.app).post('/streams/add').send({ userId: uniqueId() })).status).toBe(503);
    expect((await request(t.app).get(`/users/${uniqueId()}/streams`)).status).toBe(503);
    const samples = await scrape(t);
    expect(value(samples, 'stream_limiter_store_errors_total')).toBeGreaterThanOrEqual(2);
    expect(
      value(samples, 'stream_limiter_store_errors_total', { kind: 'unreachable' }) +
        value(samples, 'stream_limiter_store_errors_total', { kind: 'timeout' }),
    ).toBeGreaterThanOrEqual(2);
    expect(value(samples, 'http_requests_total', { route: '/streams/add', status: '503' })).toBe(1);
    expect(
      value(samples, 'stream_limiter_dynamodb_call_duration_seconds_count', { operation: 'UpdateItem' }),
    ).toBeGreaterThanOrEqual(1);
    expect(value(samples, 'stream_limiter_admissions_total')).toBe(0);
  });
});

describe('GET /metrics with BASE_PATH', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ BASE_PATH: '/dev', STREAM_LIMIT: '1' }, { deps: { metrics: createMetrics() } });
  });
  afterAll(() => t.close());

  it('answers at the root and under the prefix, labelling routes without the prefix', async () => {
    const userId = uniqueId();
    expect((await request(t.app).post('/dev/streams/add').send({ userId })).status).toBe(201);
    // A 409 leaves the router as an error: its label must not differ from the 201's.
    expect((await request(t.app).post('/dev/streams/add').send({ userId })).status).toBe(409);
    expect((await request(t.app).get('/dev/healthz')).status).toBe(200);
    expect((await request(t.app).get('/healthz')).status).toBe(200);
    const samples = await scrape(t);
    expect(value(samples, 'http_requests_total', { route: '/streams/add', status: '201' })).toBe(1);
    expect(value(samples, 'http_requests_total', { route: '/streams/add', status: '409' })).toBe(1);
    expect(value(samples, 'http_requests_total', { route: '/healthz' })).toBe(2);
    expect(samples.some((sample) => sample.labels.route?.startsWith('/dev'))).toBe(false);
    expect(value(await scrape(t, '/dev/metrics'), 'stream_limiter_admissions_total')).toBe(1);
  });
});

describe('metrics registries', () => {
  it('are per app: two apps count separately, and an app given no metrics still serves /metrics', async () => {
    const first = await createTestApp({}, { deps: { metrics: createMetrics() } });
    const second = await createTestApp();
    try {
      expect((await request(first.app).post('/streams/add').send({ userId: uniqueId() })).status).toBe(201);
      expect(value(await scrape(first), 'stream_limiter_admissions_total')).toBe(1);
      expect(value(await scrape(second), 'stream_limiter_admissions_total')).toBe(0);
    } finally {
      first.close();
      second.close();
    }
  });

  it('are never behind authentication', async () => {
    const t = await createTestApp({
      AUTH_MODE: 'jwt',
      AUTH_JWT_SECRET: 'a-test-secret-of-at-least-32-bytes!!',
      RATE_LIMIT_PER_MINUTE: '1',
    });
    try {
      for (let i = 0; i < 3; i++) expect((await request(t.app).get('/metrics')).status).toBe(200);
    } finally {
      t.close();
    }
  });
});
