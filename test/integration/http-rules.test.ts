import pino from 'pino';
import request from 'supertest';
import { createMetricsApp } from '../../src/app';
import { StoreUnavailable } from '../../src/errors';
import { createMetrics } from '../../src/metrics';
import { createReadiness } from '../../src/readiness';
import { createTestApp, uniqueId, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

function expectProblem(res: request.Response, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({
    status,
    code,
    type: expect.any(String),
    title: expect.any(String),
    detail: expect.any(String),
  });
  expect(JSON.stringify(res.body)).not.toMatch(/at .+\.(ts|js):\d+/);
}

describe('request and response rules', () => {
  it('answers an unknown path with 404 NOT_FOUND', async () => {
    expectProblem(await request(t.app).get('/nope'), 404, 'NOT_FOUND');
    expectProblem(await request(t.app).post('/streams/nope').send({}), 404, 'NOT_FOUND');
  });

  it.each([
    ['get', '/streams/add', 'POST, OPTIONS'],
    ['put', '/streams/heartbeat', 'POST, OPTIONS'],
    ['delete', '/streams/remove', 'POST, OPTIONS'],
    ['post', '/users/u1/streams', 'GET, HEAD, OPTIONS'],
    ['post', '/healthz', 'GET, HEAD, OPTIONS'],
    ['patch', '/users/u1/limit', 'PUT, DELETE, OPTIONS'],
  ] as const)('answers %s %s with 405 and Allow: %s', async (method, path, allow) => {
    const res = await request(t.app)[method](path);
    expectProblem(res, 405, 'METHOD_NOT_ALLOWED');
    expect(res.headers.allow).toBe(allow);
  });

  it('answers OPTIONS on a known path with 204 and Allow', async () => {
    const res = await request(t.app).options('/streams/add');
    expect(res.status).toBe(204);
    expect(res.headers.allow).toBe('POST, OPTIONS');
  });

  it('refuses a body that is not application/json with 415', async () => {
    expectProblem(
      await request(t.app).post('/streams/add').set('Content-Type', 'text/plain').send('{"userId":"u"}'),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    expectProblem(await request(t.app).post('/streams/add'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectProblem(
      await request(t.app)
        .post('/streams/add')
        .set('Content-Type', 'application/x-www-form-urlencoded')
        .send('userId=u'),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
  });

  it.each([
    'application/json; charset=utf-8',
    'application/json;charset=UTF-8',
    'Application/JSON',
    'application/json; charset=iso-8859-1',
  ])('accepts Content-Type %s', async (contentType) => {
    const res = await request(t.app)
      .post('/streams/add')
      .set('Content-Type', contentType)
      .send(JSON.stringify({ userId: uniqueId() }));
    expect(res.status).toBe(201);
  });

  it('refuses a body over 16 KiB with 413', async () => {
    const body = JSON.stringify({ userId: 'u', streamId: 'x'.repeat(17 * 1024) });
    expectProblem(
      await request(t.app).post('/streams/add').set('Content-Type', 'application/json').send(body),
      413,
      'PAYLOAD_TOO_LARGE',
    );
  });

  it('checks the size before the JSON syntax', async () => {
    const body = `{${'x'.repeat(17 * 1024)}`;
    expectProblem(
      await request(t.app).post('/streams/add').set('Content-Type', 'application/json').send(body),
      413,
      'PAYLOAD_TOO_LARGE',
    );
  });

  it('checks the content type before the size', async () => {
    const body = 'x'.repeat(17 * 1024);
    expectProblem(
      await request(t.app).post('/streams/add').set('Content-Type', 'text/plain').send(body),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
  });

  it.each(['{"userId":', '{userId: "u"}', "{'userId':'u'}", 'nul', '{"userId":"u"}}'])(
    'answers malformed JSON %s with 400 MALFORMED_JSON',
    async (body) => {
      expectProblem(
        await request(t.app).post('/streams/add').set('Content-Type', 'application/json').send(body),
        400,
        'MALFORMED_JSON',
      );
    },
  );

  it.each(['[]', '"u"', '42', 'null', 'true'])(
    'answers valid JSON that is not an object (%s) with VALIDATION_ERROR on path ""',
    async (body) => {
      const res = await request(t.app).post('/streams/heartbeat').set('Content-Type', 'application/json').send(body);
      expectProblem(res, 400, 'VALIDATION_ERROR');
      expect(res.body.errors).toEqual([{ path: '', message: expect.any(String) }]);
    },
  );

  it('refuses unknown fields, naming each', async () => {
    const res = await request(t.app).post('/streams/add').send({ userId: 'u', streamID: 'typo', extra: 1 });
    expectProblem(res, 400, 'VALIDATION_ERROR');
    expect(res.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['extra', 'streamID']);
  });

  it('reports every invalid field with its path, nested names joined by dots', async () => {
    const res = await request(t.app)
      .post('/streams/add')
      .send({ userId: '', streamId: 'x'.repeat(65), deviceId: '-bad', metadata: { title: 7 } });
    expectProblem(res, 400, 'VALIDATION_ERROR');
    expect(res.body.errors.map((e: { path: string }) => e.path).sort()).toEqual([
      'deviceId',
      'metadata.title',
      'streamId',
      'userId',
    ]);
  });

  it('lists at most 20 field errors, the first found, for a 16 KiB body full of bad fields', async () => {
    const body: Record<string, unknown> = { userId: 'u' };
    for (let i = 0; JSON.stringify(body).length < 16 * 1024 - 16; i++) body[`k${i}`] = 0;
    const res = await request(t.app).post('/streams/add').send(body);
    expectProblem(res, 400, 'VALIDATION_ERROR');
    expect(res.body.errors).toHaveLength(20);
    expect(res.body.errors.slice(0, 2)).toEqual([
      { path: 'k0', message: 'unknown field' },
      { path: 'k1', message: 'unknown field' },
    ]);
  });

  it.each([
    [{ userId: 'a b' }, 'userId'],
    [{ userId: 'x'.repeat(129) }, 'userId'],
    [{ userId: 'u', streamId: 'a/b' }, 'streamId'],
    [{ userId: 'u', streamId: 'u@x' }, 'streamId'],
    [{ userId: 'u', deviceId: 'd'.repeat(129) }, 'deviceId'],
    [{ userId: 'u', metadata: { a: 'x'.repeat(257) } }, 'metadata.a'],
    [{ userId: 'u', metadata: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, 'v'])) }, 'metadata'],
    [{ userId: 'u', metadata: { nested: { a: 'b' } } }, 'metadata.nested'],
    [{ userId: 'u', metadata: ['a'] }, 'metadata'],
    [{ userId: 'u', streamId: 's', replaceStreamId: 's' }, 'replaceStreamId'],
    [{ userId: 42 }, 'userId'],
    [{}, 'userId'],
  ])('refuses %j on path %s', async (body, path) => {
    const res = await request(t.app).post('/streams/add').send(body);
    expectProblem(res, 400, 'VALIDATION_ERROR');
    expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path);
  });

  it('accepts ids at their maximum lengths and every allowed character', async () => {
    const res = await request(t.app)
      .post('/streams/add')
      .send({
        userId: `A9._:@+-${'u'.repeat(120)}`,
        streamId: `Z0._:-${'s'.repeat(58)}`,
        deviceId: 'd'.repeat(128),
        metadata: maximalMetadata(),
      });
    expect(res.status).toBe(201);
  });

  it('refuses metadata over 2,048 bytes of UTF-8 in all, keys included, naming metadata', async () => {
    const metadata = { ...maximalMetadata(), 'key.9': `${maximalMetadata()['key.9']}x` };
    const res = await request(t.app).post('/streams/add').send({ userId: uniqueId(), metadata });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ path: 'metadata', message: expect.stringContaining('2048 bytes') }]);
  });

  it('echoes a well-formed X-Request-Id and replaces a malformed one', async () => {
    const echoed = await request(t.app).get('/healthz').set('X-Request-Id', 'abc-123:x.y_z');
    expect(echoed.headers['x-request-id']).toBe('abc-123:x.y_z');
    const replaced = await request(t.app).get('/healthz').set('X-Request-Id', 'bad id with spaces');
    expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const tooLong = await request(t.app).get('/healthz').set('X-Request-Id', 'a'.repeat(129));
    expect(tooLong.headers['x-request-id']).not.toBe('a'.repeat(129));
    const onError = await request(t.app).post('/streams/add').send([]);
    expect(onError.headers['x-request-id']).toBeDefined();
  });

  it('sets helmet headers and hides the framework', async () => {
    const res = await request(t.app).get('/healthz');
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toBeDefined();
  });

  it('serves /healthz and /readyz', async () => {
    expect((await request(t.app).get('/healthz')).body).toEqual({ status: 'ok' });
    const ready = await request(t.app).get('/readyz');
    expect(ready.status).toBe(200);
  });
});

describe('BASE_PATH', () => {
  let prefixed: TestApp;
  beforeAll(async () => {
    prefixed = await createTestApp({ BASE_PATH: '/dev' });
  });
  afterAll(() => prefixed.close());

  it('serves the API under the prefix so original clients calling /dev/streams/add work', async () => {
    const userId = uniqueId();
    expect((await request(prefixed.app).post('/dev/streams/add').send({ userId })).status).toBe(201);
    expect((await request(prefixed.app).get(`/dev/users/${userId}/streams`)).body.activeStreams).toBe(1);
    expect((await request(prefixed.app).post('/streams/add').send({ userId })).status).toBe(404);
  });

  it('keeps health, readiness at the root, and under the prefix too', async () => {
    expect((await request(prefixed.app).get('/healthz')).status).toBe(200);
    expect((await request(prefixed.app).get('/readyz')).status).toBe(200);
    expect((await request(prefixed.app).get('/dev/healthz')).status).toBe(200);
  });
});

describe('CORS_ORIGINS', () => {
  let withCors: TestApp;
  beforeAll(async () => {
    withCors = await createTestApp({ CORS_ORIGINS: 'https://player.example.com' });
  });
  afterAll(() => withCors.close());

  it('answers a preflight from an allowed origin with 204 and the CORS headers', async () => {
    const res = await request(withCors.app)
      .options('/streams/add')
      .set('Origin', 'https://player.example.com')
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'content-type');
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('https://player.example.com');
    expect(res.headers['access-control-allow-methods']).toBe('POST, OPTIONS');
    expect(res.headers['access-control-allow-headers']).toMatch(/Content-Type/);
  });

  it('adds no CORS headers for another origin', async () => {
    const res = await request(withCors.app)
      .post('/streams/add')
      .set('Origin', 'https://evil.example.com')
      .send({ userId: uniqueId() });
    expect(res.status).toBe(201);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('adds no CORS headers at all when CORS_ORIGINS is unset', async () => {
    const res = await request(t.app)
      .options('/streams/add')
      .set('Origin', 'https://player.example.com')
      .set('Access-Control-Request-Method', 'POST');
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('inputs that fail before a route runs', () => {
  it.each(['/users/%E0%A4%A/streams', '/users/%/streams'])(
    'answers a path with bad percent-encoding (%s) with 400 on path userId',
    async (path) => {
      const res = await request(t.app).get(path);
      expectProblem(res, 400, 'VALIDATION_ERROR');
      expect(res.body.errors).toEqual([{ path: 'userId', message: 'is not valid percent-encoding' }]);
    },
  );

  it.each(['gzip', 'br', 'deflate'])(
    'answers a body that does not decode as %s with 400 MALFORMED_JSON',
    async (encoding) => {
      const res = await request(t.app)
        .post('/streams/add')
        .set('Content-Type', 'application/json')
        .set('Content-Encoding', encoding)
        .send('not compressed');
      expectProblem(res, 400, 'MALFORMED_JSON');
    },
  );

  it('refuses an unknown content encoding with 415', async () => {
    const res = await request(t.app)
      .post('/streams/add')
      .set('Content-Type', 'application/json')
      .set('Content-Encoding', 'compress')
      .send('{}');
    expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('answers deeply nested JSON without crashing', async () => {
    const body = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const res = await request(t.app).post('/streams/add').set('Content-Type', 'application/json').send(body);
    expectProblem(res, 400, 'VALIDATION_ERROR');
  });
});

describe('METRICS_PORT', () => {
  let separate: TestApp;
  beforeAll(async () => {
    separate = await createTestApp({ METRICS_PORT: '9464', BASE_PATH: '/dev' });
  });
  afterAll(() => separate.close());

  it('answers GET /metrics on PORT with 404 NOT_FOUND, at the root and under BASE_PATH', async () => {
    expectProblem(await request(separate.app).get('/metrics'), 404, 'NOT_FOUND');
    expectProblem(await request(separate.app).get('/dev/metrics'), 404, 'NOT_FOUND');
    expect(separate.routes.map((route) => route.path)).not.toContain('/metrics');
    expect((await request(separate.app).get('/healthz')).status).toBe(200);
  });

  it('serves /metrics on the metrics listener only, with problem+json for anything else', async () => {
    const metrics = createMetrics();
    const metricsApp = createMetricsApp({ metrics, logger: pino({ level: 'silent' }) });
    const scraped = await request(metricsApp).get('/metrics');
    expect(scraped.status).toBe(200);
    expect(scraped.text).toMatch(/^# HELP /m);
    expectProblem(await request(metricsApp).get('/streams/add'), 404, 'NOT_FOUND');
    expectProblem(await request(metricsApp).get('/healthz'), 404, 'NOT_FOUND');
    const wrongMethod = await request(metricsApp).post('/metrics');
    expectProblem(wrongMethod, 405, 'METHOD_NOT_ALLOWED');
    expect(wrongMethod.headers.allow).toBe('GET, HEAD, OPTIONS');
  });

  it('keeps /metrics on PORT when METRICS_PORT is unset', async () => {
    expect((await request(t.app).get('/metrics')).status).toBe(200);
  });
});

describe('/readyz', () => {
  it('says the store is unavailable without echoing the raw error, which goes to the log instead', async () => {
    const failures: unknown[] = [];
    const raw = new Error('connect ECONNREFUSED 10.0.3.7:8000 (arn:aws:dynamodb:eu-west-1:123456789012:table/leases)');
    const failing = await createTestApp(
      {},
      {
        deps: { readiness: createReadiness(() => Promise.reject(raw), { onFailure: (error) => failures.push(error) }) },
      },
    );
    try {
      const res = await request(failing.app).get('/readyz');
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ status: 'unavailable', reason: 'store unavailable' });
      expect(failures).toEqual([raw]);
    } finally {
      failing.close();
    }
  });

  it('names the kind of a store fault', async () => {
    const timedOut = new StoreUnavailable('timeout', { cause: new Error('socket hang up from 10.0.3.7') });
    const failing = await createTestApp({}, { deps: { readiness: createReadiness(() => Promise.reject(timedOut)) } });
    try {
      const res = await request(failing.app).get('/readyz');
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ status: 'unavailable', reason: 'store unavailable: timeout' });
    } finally {
      failing.close();
    }
  });
});

/** Ten keys whose keys and values add up to exactly 2,048 bytes of UTF-8, with two-byte characters. */
function maximalMetadata(): Record<string, string> {
  const metadata: Record<string, string> = Object.fromEntries(
    Array.from({ length: 10 }, (_, i) => [`key.${i}`, 'é'.repeat(99)]),
  );
  metadata['key.9'] += 'x'.repeat(2048 - 10 * (5 + 198));
  return metadata;
}
