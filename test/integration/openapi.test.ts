import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import request from 'supertest';
import { z } from 'zod';
import {
  Forbidden,
  InternalError,
  MalformedJson,
  MethodNotAllowed,
  PayloadTooLarge,
  PROBLEM_CODES,
  RateLimited,
  RouteNotFound,
  StoreUnavailable,
  StreamLimitReached,
  StreamNotFound,
  StreamTerminated,
  Unauthenticated,
  UnsupportedMediaType,
  ValidationError,
} from '../../src/errors';
import {
  checkResponse,
  healthResponse,
  leaseResponse,
  problemSchema,
  readinessResponse,
  removeResponse,
  streamLimitProblemSchema,
  streamNotFoundProblemSchema,
  streamTerminatedProblemSchema,
  userStreamsResponse,
  validationProblemSchema,
} from '../../src/http/response-schemas';
import { addStreamBody, heartbeatBody, removeStreamBody, setLimitBody } from '../../src/http/schemas';
import { createTestApp, uniqueId, type TestApp } from '../helpers/test-app';

type Json = Record<string, unknown>;
interface Operation {
  responses: Record<string, Json>;
  security?: unknown[];
}
interface Document {
  openapi: string;
  info: { version: string };
  servers: { url: string }[];
  paths: Record<string, Record<string, unknown> & { servers?: { url: string }[] }>;
  components: { schemas: Record<string, Json>; responses: Record<string, Json> };
}

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];
// The pages' own files (/docs/..., /demo/...) are not API operations.
const isAsset = (path: string) => /\/(docs|demo)\/./.test(path);
const toOpenApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

async function fetchDocument(t: TestApp, basePath = ''): Promise<Document> {
  const res = await request(t.app).get(`${basePath}/openapi.json`);
  expect(res.status).toBe(200);
  return res.body as Document;
}

function documentedOperations(doc: Document): string[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((key) => HTTP_METHODS.includes(key))
      .map((method) => `${method.toUpperCase()} ${path}`),
  );
}

function routedOperations(t: TestApp, basePath: string): string[] {
  const operations = t.routes
    .filter((route) => !isAsset(route.path))
    .flatMap((route) => {
      const path = basePath && route.path.startsWith(`${basePath}/`) ? route.path.slice(basePath.length) : route.path;
      return route.methods.map((method) => `${method} ${toOpenApiPath(path)}`);
    });
  return [...new Set(operations)];
}

function operation(doc: Document, method: string, path: string): Operation {
  const found = doc.paths[path]?.[method] as Operation | undefined;
  if (!found) throw new Error(`${method.toUpperCase()} ${path} is not documented`);
  return found;
}

/** The documented response for this status, with shared responses resolved. */
function documentedResponse(doc: Document, method: string, path: string, status: number): Json {
  const response = operation(doc, method, path).responses[String(status)];
  if (!response) throw new Error(`${method.toUpperCase()} ${path} does not document ${status}`);
  const ref = response.$ref as string | undefined;
  return ref ? doc.components.responses[ref.split('/').pop()!]! : response;
}

/** A real answer: documented for its operation and status, and its body parses with the documented schema. */
function expectDocumented(doc: Document, method: string, path: string, res: request.Response, schema: z.ZodObject) {
  const response = documentedResponse(doc, method, path, res.status);
  const mediaType = String(res.headers['content-type']).split(';')[0]!;
  expect(Object.keys(response.content as Json)).toContain(mediaType);
  expect(Object.keys(response.headers as Json)).toContain('X-Request-Id');
  expect(res.headers['x-request-id']).toEqual(expect.any(String));
  const parsed = schema.safeParse(res.body);
  if (!parsed.success)
    throw new Error(`${method} ${path} ${res.status}: ${parsed.error.message}\n${JSON.stringify(res.body)}`);
  // No field the schema does not name: the document lists everything a client receives.
  for (const key of Object.keys(res.body as Json)) expect(Object.keys(schema.shape)).toContain(key);
}

describe('the OpenAPI document', () => {
  let t: TestApp;
  let doc: Document;
  beforeAll(async () => {
    t = await createTestApp({ STREAM_LIMIT: '2' });
    doc = await fetchDocument(t);
  });
  afterAll(() => t.close());

  it('is OpenAPI 3.1, served as JSON with X-Request-Id', async () => {
    const res = await request(t.app).get('/openapi.json').set('X-Request-Id', 'doc-1');
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['x-request-id']).toBe('doc-1');
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.servers).toEqual([expect.objectContaining({ url: '/' })]);
  });

  it("carries the package's version, found from wherever the module is bundled", () => {
    const { version } = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(doc.info.version).toBe(version);
  });

  it('documents every route the router mounts, with its methods, and nothing else', () => {
    expect(documentedOperations(doc).sort()).toEqual(routedOperations(t, '').sort());
  });

  it('answers OPTIONS and other methods on its own paths like any route', async () => {
    const options = await request(t.app).options('/openapi.json');
    expect(options.status).toBe(204);
    expect(options.headers.allow).toBe('GET, HEAD, OPTIONS');
    const post = await request(t.app).post('/docs').send({});
    expect(post.status).toBe(405);
    expect(post.body.code).toBe('METHOD_NOT_ALLOWED');
  });

  it('takes request bodies from the schemas the routes validate with', () => {
    for (const [id, schema] of [
      ['AddStreamRequest', addStreamBody],
      ['HeartbeatRequest', heartbeatBody],
      ['RemoveStreamRequest', removeStreamBody],
      ['SetLimitRequest', setLimitBody],
    ] as const) {
      const generated = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input' }) as {
        $defs: Record<string, Json>;
      };
      expect(doc.components.schemas[id]).toEqual(generated.$defs[id]);
    }
    const add = doc.components.schemas.AddStreamRequest!;
    expect(add.additionalProperties).toBe(false);
    expect((add.properties as Record<string, Json>).userId).toMatchObject({
      pattern: '^[A-Za-z0-9][A-Za-z0-9._:@+-]*$',
      maxLength: 128,
    });
    const addBody = (
      operation(doc, 'post', '/streams/add') as unknown as {
        requestBody: { content: Record<string, { schema: Json }> };
      }
    ).requestBody;
    expect(addBody.content['application/json']!.schema).toEqual({ $ref: '#/components/schemas/AddStreamRequest' });
  });

  it('names every error code the service can answer with', () => {
    const codes = [
      new ValidationError([]),
      new MalformedJson(),
      new Unauthenticated('x', 'invalid_token'),
      new Forbidden('x'),
      new RouteNotFound('GET', '/x'),
      new StreamNotFound('u', 's'),
      new MethodNotAllowed('GET', '/x', ['POST']),
      new StreamLimitReached('u', 3, []),
      new StreamTerminated('u', 's', { reason: 'removed' }),
      new PayloadTooLarge(1),
      new UnsupportedMediaType(),
      new RateLimited(1),
      new StoreUnavailable('timeout'),
      new InternalError(),
    ].map((error) => error.code);
    expect([...new Set(codes)].sort()).toEqual([...PROBLEM_CODES].sort());
    expect((doc.components.schemas.ProblemCode as { enum: string[] }).enum.sort()).toEqual([...PROBLEM_CODES].sort());
  });

  it('documents Retry-After on 503, Allow on 405 and X-Request-Id on every response', () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of Object.keys(item).filter((key) => HTTP_METHODS.includes(key))) {
        for (const status of Object.keys(operation(doc, method, path).responses)) {
          const response = documentedResponse(doc, method, path, Number(status));
          const headers = Object.keys(response.headers as Json);
          expect(headers).toContain('X-Request-Id');
          if (status === '405') expect(headers).toContain('Allow');
          if (status === '503' && path !== '/readyz') expect(headers).toContain('Retry-After');
        }
      }
    }
  });

  it('matches real answers of every endpoint, success and failure', async () => {
    const userId = uniqueId();
    const add = (body: object) => request(t.app).post('/streams/add').send(body);
    const heartbeat = (body: object) => request(t.app).post('/streams/heartbeat').send(body);

    const created = await add({ userId, streamId: 'a', deviceId: 'tv', metadata: { title: 'Big Buck Bunny' } });
    expect(created.status).toBe(201);
    expectDocumented(doc, 'post', '/streams/add', created, leaseResponse);
    const retried = await add({ userId, streamId: 'a', deviceId: 'tv' });
    expect(retried.status).toBe(200);
    expectDocumented(doc, 'post', '/streams/add', retried, leaseResponse);
    expect((await add({ userId, streamId: 'b' })).status).toBe(201);
    const refused = await add({ userId, streamId: 'c' });
    expect(refused.status).toBe(409);
    expectDocumented(doc, 'post', '/streams/add', refused, streamLimitProblemSchema);

    const renewed = await heartbeat({ userId, streamId: 'a' });
    expect(renewed.status).toBe(200);
    expectDocumented(doc, 'post', '/streams/heartbeat', renewed, leaseResponse);
    const unknown = await heartbeat({ userId, streamId: 'nope' });
    expect(unknown.status).toBe(404);
    expectDocumented(doc, 'post', '/streams/heartbeat', unknown, streamNotFoundProblemSchema);

    const replaced = await add({ userId, streamId: 'c', deviceId: 'tablet', replaceStreamId: 'b' });
    expect(replaced.status).toBe(201);
    const gone = await heartbeat({ userId, streamId: 'b' });
    expect(gone.status).toBe(410);
    expect(gone.body.replacedBy).toEqual({ streamId: 'c', deviceId: 'tablet' });
    expectDocumented(doc, 'post', '/streams/heartbeat', gone, streamTerminatedProblemSchema);

    const listed = await request(t.app).get(`/users/${userId}/streams`);
    expect(listed.status).toBe(200);
    expectDocumented(doc, 'get', '/users/{userId}/streams', listed, userStreamsResponse);

    const removed = await request(t.app).post('/streams/remove').send({ userId, streamId: 'a' });
    expect(removed.status).toBe(200);
    expectDocumented(doc, 'post', '/streams/remove', removed, removeResponse);
    const removedAgain = await request(t.app).post('/streams/remove').send({ userId: uniqueId() });
    expect(removedAgain.body).toMatchObject({ streamId: null, removed: false });
    expectDocumented(doc, 'post', '/streams/remove', removedAgain, removeResponse);
    const terminated = await heartbeat({ userId, streamId: 'a' });
    expect(terminated.status).toBe(410);
    expectDocumented(doc, 'post', '/streams/heartbeat', terminated, streamTerminatedProblemSchema);

    const limited = await request(t.app).put(`/users/${userId}/limit`).send({ limit: 5 });
    expect(limited.status).toBe(200);
    expectDocumented(doc, 'put', '/users/{userId}/limit', limited, userStreamsResponse);
    const cleared = await request(t.app).delete(`/users/${userId}/limit`);
    expect(cleared.status).toBe(200);
    expectDocumented(doc, 'delete', '/users/{userId}/limit', cleared, userStreamsResponse);

    const invalid = await add({ userId, streamID: 'typo' });
    expect(invalid.status).toBe(400);
    expectDocumented(doc, 'post', '/streams/add', invalid, validationProblemSchema);
    const badPath = await request(t.app).get('/users/%20bad/streams');
    expect(badPath.status).toBe(400);
    expectDocumented(doc, 'get', '/users/{userId}/streams', badPath, validationProblemSchema);
    const malformed = await request(t.app)
      .post('/streams/heartbeat')
      .set('Content-Type', 'application/json')
      .send('{"userId":');
    expect(malformed.body.code).toBe('MALFORMED_JSON');
    expectDocumented(doc, 'post', '/streams/heartbeat', malformed, problemSchema);
    const tooLarge = await request(t.app)
      .post('/streams/remove')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ userId, pad: 'x'.repeat(17 * 1024) }));
    expect(tooLarge.status).toBe(413);
    expectDocumented(doc, 'post', '/streams/remove', tooLarge, problemSchema);
    const wrongType = await request(t.app).put(`/users/${userId}/limit`).set('Content-Type', 'text/plain').send('5');
    expect(wrongType.status).toBe(415);
    expectDocumented(doc, 'put', '/users/{userId}/limit', wrongType, problemSchema);
    const wrongMethod = await request(t.app).get('/streams/add');
    expect(wrongMethod.status).toBe(405);
    expectDocumented(doc, 'post', '/streams/add', wrongMethod, problemSchema);

    expectDocumented(doc, 'get', '/healthz', await request(t.app).get('/healthz'), healthResponse);
    expectDocumented(doc, 'get', '/readyz', await request(t.app).get('/readyz'), readinessResponse);
  });

  it('matches real answers of the admission policies, weights, the check and the degraded mode', async () => {
    const evicting = await createTestApp({ STREAM_POLICY: 'evict-oldest' });
    // A store that never answers, with STORE_FAILURE_MODE=open: degraded answers.
    const open = await createTestApp(
      { STORE_FAILURE_MODE: 'open', DYNAMODB_TIMEOUT_MS: '200' },
      { endpoint: 'http://127.0.0.1:9', table: 'never-created' },
    );
    try {
      const userId = uniqueId();
      const add = (body: object) => request(evicting.app).post('/streams/add').send(body);
      const check = (body: object) => request(evicting.app).post('/streams/check').send(body);
      expectDocumented(doc, 'post', '/streams/check', await check({ userId }), checkResponse);
      for (const streamId of ['a', 'b', 'c']) {
        expect((await add({ userId, streamId, deviceId: 'tv', weight: 1 })).status).toBe(201);
        evicting.clock.advance(10);
      }
      const preflight = await check({ userId, weight: 2 });
      expect(preflight.body.wouldEvict).toHaveLength(2);
      expectDocumented(doc, 'post', '/streams/check', preflight, checkResponse);
      const evicted = await add({ userId, streamId: 'uhd', weight: 2 });
      expect(evicted.body.evicted).toHaveLength(2);
      expectDocumented(doc, 'post', '/streams/add', evicted, leaseResponse);
      const kicked = await request(evicting.app).post('/streams/heartbeat').send({ userId, streamId: 'a' });
      expect(kicked.body.reason).toBe('evicted');
      expectDocumented(doc, 'post', '/streams/heartbeat', kicked, streamTerminatedProblemSchema);
      const tooHeavy = await add({ userId, streamId: 'big', weight: 4 });
      expectDocumented(doc, 'post', '/streams/add', tooHeavy, streamLimitProblemSchema);
      const policy = await request(evicting.app).put(`/users/${userId}/limit`).send({ policy: 'block-new' });
      expectDocumented(doc, 'put', '/users/{userId}/limit', policy, userStreamsResponse);
      expectDocumented(doc, 'post', '/streams/check', await check({ userId, weight: 11 }), validationProblemSchema);

      const degraded = await request(open.app).post('/streams/add').send({ userId, streamId: 's' });
      expect(degraded.body.degraded).toBe(true);
      expectDocumented(doc, 'post', '/streams/add', degraded, leaseResponse);
      const degradedBeat = await request(open.app).post('/streams/heartbeat').send({ userId, streamId: 's' });
      expectDocumented(doc, 'post', '/streams/heartbeat', degradedBeat, leaseResponse);
      const unavailable = await request(open.app).post('/streams/check').send({ userId });
      expect(unavailable.status).toBe(503);
      expectDocumented(doc, 'post', '/streams/check', unavailable, problemSchema);
    } finally {
      evicting.close();
      open.close();
    }
  });

  it('gives examples that are valid answers', () => {
    const schemas: Record<string, z.ZodObject> = {
      Problem: problemSchema,
      ValidationProblem: validationProblemSchema,
      StreamLimitProblem: streamLimitProblemSchema,
      StreamNotFoundProblem: streamNotFoundProblemSchema,
      StreamTerminatedProblem: streamTerminatedProblemSchema,
    };
    const responses = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((key) => HTTP_METHODS.includes(key))
        .flatMap((method) =>
          Object.keys(operation(doc, method, path).responses).map((status) =>
            documentedResponse(doc, method, path, Number(status)),
          ),
        ),
    );
    let checked = 0;
    for (const response of responses) {
      const problem = (
        response.content as Record<string, { schema: Json; examples?: Record<string, { value: unknown }> }> | undefined
      )?.['application/problem+json'];
      if (!problem) continue;
      const refs = ((problem.schema.anyOf as Json[] | undefined) ?? [problem.schema]).map((s) =>
        String(s.$ref).split('/').pop()!,
      );
      for (const example of Object.values(problem.examples ?? {})) {
        expect(refs.some((id) => schemas[id]!.safeParse(example.value).success)).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(10);
  });
});

describe('the document without authentication or rate limit', () => {
  let t: TestApp;
  let doc: Document;
  beforeAll(async () => {
    t = await createTestApp({ AUTH_MODE: 'none', RATE_LIMIT_PER_MINUTE: '0' });
    doc = await fetchDocument(t);
  });
  afterAll(() => t.close());

  it('promises no 401, 403 or 429 and asks for no token', () => {
    const add = operation(doc, 'post', '/streams/add');
    expect(add.security).toEqual([]);
    expect(Object.keys(add.responses)).not.toEqual(expect.arrayContaining(['401']));
    expect(Object.keys(add.responses)).not.toEqual(expect.arrayContaining(['403']));
    expect(Object.keys(add.responses)).not.toEqual(expect.arrayContaining(['429']));
  });
});

describe('the document under BASE_PATH', () => {
  let t: TestApp;
  let doc: Document;
  beforeAll(async () => {
    t = await createTestApp({ BASE_PATH: '/dev' });
    doc = await fetchDocument(t, '/dev');
  });
  afterAll(() => t.close());

  it('is served under the prefix only, with the prefix as its server', async () => {
    expect((await request(t.app).get('/openapi.json')).status).toBe(404);
    expect((await request(t.app).get('/docs')).status).toBe(404);
    expect(doc.servers).toEqual([expect.objectContaining({ url: '/dev' })]);
  });

  it('documents every mounted route, the root-level operations through a root server', () => {
    expect(documentedOperations(doc).sort()).toEqual(routedOperations(t, '/dev').sort());
    const atRootOnly = t.routes.filter((route) => !route.path.startsWith('/dev/')).map((route) => route.path);
    expect(atRootOnly.sort()).toEqual(['/healthz', '/metrics', '/readyz']);
    for (const path of atRootOnly) {
      expect(doc.paths[path]!.servers?.map((server) => server.url)).toEqual(['/dev', '/']);
    }
  });

  it('points the docs page and its initializer at the prefixed paths', async () => {
    const page = await request(t.app).get('/dev/docs');
    expect(page.text).toContain('src="/dev/docs/swagger-ui-bundle.js"');
    const script = await request(t.app).get('/dev/docs/swagger-initializer.js');
    expect(script.text).toContain('"url":"/dev/openapi.json"');
  });
});

describe('the document with AUTH_MODE=jwt', () => {
  let t: TestApp;
  let doc: Document;
  beforeAll(async () => {
    t = await createTestApp({
      AUTH_MODE: 'jwt',
      AUTH_JWT_SECRET: 'a-test-secret-of-at-least-32-bytes!!',
      RATE_LIMIT_PER_MINUTE: '60',
    });
    doc = await fetchDocument(t);
  });
  afterAll(() => t.close());

  it('needs no token to read the document or the page', async () => {
    expect((await request(t.app).get('/openapi.json')).status).toBe(200);
    expect((await request(t.app).get('/docs')).status).toBe(200);
    expect((await request(t.app).get('/docs/swagger-initializer.js')).status).toBe(200);
  });

  it('requires the bearer scheme on API operations, with their 401 and 403, and none on the public ones', () => {
    for (const [method, path] of [
      ['post', '/streams/add'],
      ['get', '/users/{userId}/streams'],
      ['put', '/users/{userId}/limit'],
    ] as const) {
      expect(operation(doc, method, path).security).toEqual([{ bearerAuth: [] }]);
      expect(Object.keys(operation(doc, method, path).responses)).toEqual(
        expect.arrayContaining(['401', '403', '429']),
      );
    }
    for (const path of ['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs']) {
      expect(operation(doc, 'get', path).security).toEqual([]);
    }
  });
});

describe('GET /docs', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('renders Swagger UI from assets this service serves, with no inline script, under the default CSP', async () => {
    const page = await request(t.app).get('/docs');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
    const scripts = [...page.text.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attributes, body] of scripts) {
      expect(attributes).toMatch(/src="\/docs\//);
      expect(body!.trim()).toBe('');
    }
    const assets = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
    expect(assets.every((asset) => asset.startsWith('/docs/'))).toBe(true);
    const types: Record<string, RegExp> = { '.js': /^text\/javascript/, '.css': /^text\/css/, '.png': /^image\/png/ };
    for (const asset of assets) {
      const res = await request(t.app).get(asset);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(types[asset.slice(asset.lastIndexOf('.'))]!);
    }
    const bundle = await request(t.app).get('/docs/swagger-ui-bundle.js');
    expect(Number(bundle.headers['content-length'])).toBeGreaterThan(500_000);
    const script = await request(t.app).get('/docs/swagger-initializer.js');
    expect(script.text).toContain('SwaggerUIBundle(');
    expect(script.text).toContain('"url":"/openapi.json"');
  });

  it('serves only the files the page uses, not the rest of swagger-ui-dist', async () => {
    expect((await request(t.app).get('/docs/index.html')).status).toBe(404);
    expect((await request(t.app).get('/docs/../package.json')).status).toBe(404);
  });
});
