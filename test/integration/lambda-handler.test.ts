import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { loadConfig } from '../../src/config';
import { createLambdaHandler, stagePrefix, type LambdaHandler } from '../../src/lambda';
import { leasePolicy } from '../../src/leases/policy';
import { EMF_NAMESPACE } from '../../src/observability/emf';
import { LeaseStore } from '../../src/store/lease-store';
import { testEndpoint, uniqueId } from '../helpers/test-app';

const API_HOST = 'a1b2c3d4e5.execute-api.us-east-1.amazonaws.com';

interface EventInput {
  method: string;
  /** The path the client asked for, stage included (what API Gateway puts in rawPath). */
  rawPath: string;
  body?: string;
  isBase64Encoded?: boolean;
  headers?: Record<string, string>;
  stage?: string;
  rawQueryString?: string;
}

/** An API Gateway HTTP API (payload format 2.0) event, as the `$default` route proxies it. */
function httpApiEvent(input: EventInput): APIGatewayProxyEventV2 {
  const stage = input.stage ?? 'dev';
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: input.rawPath,
    rawQueryString: input.rawQueryString ?? '',
    headers: {
      host: API_HOST,
      'user-agent': 'jest',
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-proto': 'https',
      ...(input.body !== undefined && { 'content-type': 'application/json' }),
      ...input.headers,
    },
    requestContext: {
      accountId: '123456789012',
      apiId: 'a1b2c3d4e5',
      domainName: API_HOST,
      domainPrefix: 'a1b2c3d4e5',
      http: {
        method: input.method,
        path: input.rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: '203.0.113.7',
        userAgent: 'jest',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage,
      time: new Date(now).toUTCString(),
      timeEpoch: now,
    },
    ...(input.body !== undefined && { body: input.body }),
    isBase64Encoded: input.isBase64Encoded ?? false,
  };
}

const lambdaContext = (): Context =>
  ({
    functionName: 'stream-limiter',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:stream-limiter',
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: '/aws/lambda/stream-limiter',
    logStreamName: 'test',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => 10_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  }) as Context;

interface Answer {
  statusCode: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
  raw: APIGatewayProxyStructuredResultV2;
}

describe('Lambda handler (API Gateway HTTP API events, DynamoDB Local)', () => {
  const table = `t-${randomUUID()}`;
  const emfLines: string[] = [];
  let handler: LambdaHandler;
  let setupStore: LeaseStore;
  const env = {
    DYNAMODB_ENDPOINT: testEndpoint(),
    DYNAMODB_TABLE: table,
    DYNAMODB_TIMEOUT_MS: '10000',
    RATE_LIMIT_PER_MINUTE: '0',
    METRICS_EMF: 'true',
    LOG_LEVEL: 'silent',
  };
  // Counts reads of the environment: the container must read it once, not per invoke.
  let envReads = 0;
  const countedEnv = new Proxy(env as Record<string, string | undefined>, {
    get: (target, key) => {
      envReads += 1;
      return target[key as string];
    },
  });

  const invoke = async (input: EventInput): Promise<Answer> => {
    const raw = await handler(httpApiEvent(input), lambdaContext());
    const headers = Object.fromEntries(Object.entries(raw.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
    const text = raw.isBase64Encoded ? Buffer.from(raw.body ?? '', 'base64').toString('utf8') : (raw.body ?? '');
    const body =
      /json/.test(headers['content-type'] ?? '') && text ? (JSON.parse(text) as Record<string, unknown>) : {};
    return { statusCode: raw.statusCode ?? 0, headers, body, raw };
  };
  const post = (rawPath: string, body: unknown, extra: Partial<EventInput> = {}) =>
    invoke({ method: 'POST', rawPath, body: JSON.stringify(body), ...extra });

  beforeAll(async () => {
    const config = loadConfig(env);
    setupStore = new LeaseStore({
      endpoint: { kind: 'url', url: testEndpoint() },
      region: config.region,
      table,
      timeoutMs: config.timeoutMs,
      policy: leasePolicy(config),
    });
    await setupStore.ensureTable();
    handler = createLambdaHandler(countedEnv, { emfWrite: (line) => emfLines.push(line) });
  });

  afterAll(() => setupStore.destroy());

  it('refuses a 4th add with the 409 body listing the live streams', async () => {
    const userId = uniqueId();
    for (const streamId of ['tv', 'laptop', 'phone']) {
      const added = await post('/dev/streams/add', { userId, streamId });
      expect(added.statusCode).toBe(201);
    }
    const refused = await post('/dev/streams/add', { userId, streamId: 'tablet' });
    expect(refused.statusCode).toBe(409);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.body).toMatchObject({ status: 409, code: 'STREAM_LIMIT_REACHED', limit: 3, activeStreams: 3 });
    expect((refused.body.streams as { streamId: string }[]).map((s) => s.streamId).sort()).toEqual([
      'laptop',
      'phone',
      'tv',
    ]);
  });

  it('heartbeats, removes, then tells the removed stream to stop (410)', async () => {
    const userId = uniqueId();
    expect((await post('/dev/streams/add', { userId, streamId: 's1' })).statusCode).toBe(201);
    const beat = await post('/dev/streams/heartbeat', { userId, streamId: 's1' });
    expect(beat.statusCode).toBe(200);
    expect(beat.body).toMatchObject({ userId, streamId: 's1', activeStreams: 1 });
    const removed = await post('/dev/streams/remove', { userId, streamId: 's1' });
    expect(removed.statusCode).toBe(200);
    expect(removed.body).toMatchObject({ streamId: 's1', removed: true, activeStreams: 0 });
    const stopped = await post('/dev/streams/heartbeat', { userId, streamId: 's1' });
    expect(stopped.statusCode).toBe(410);
    expect(stopped.body).toMatchObject({ code: 'STREAM_TERMINATED', reason: 'removed' });
  });

  it('answers 415 to a body that is not application/json, before reading it', async () => {
    const answer = await invoke({
      method: 'POST',
      rawPath: '/dev/streams/heartbeat',
      body: 'userId=a&streamId=b',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(answer.statusCode).toBe(415);
    expect(answer.body).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' });
  });

  it('answers an unknown route 404 NOT_FOUND and a known path with another method 405 with Allow', async () => {
    const missing = await invoke({ method: 'GET', rawPath: '/dev/streams/list' });
    expect(missing.statusCode).toBe(404);
    expect(missing.body).toMatchObject({ code: 'NOT_FOUND' });
    const wrongMethod = await invoke({ method: 'GET', rawPath: '/dev/streams/add' });
    expect(wrongMethod.statusCode).toBe(405);
    expect(wrongMethod.headers.allow).toMatch(/POST/);
  });

  it('keeps the contract check order: route, then content type, then JSON, then schema', async () => {
    const unknownRouteBadType = await invoke({
      method: 'POST',
      rawPath: '/dev/streams/nope',
      body: 'x',
      headers: { 'content-type': 'text/plain' },
    });
    expect(unknownRouteBadType.statusCode).toBe(404);
    const badJson = await invoke({ method: 'POST', rawPath: '/dev/streams/add', body: '{"userId":' });
    expect(badJson.body).toMatchObject({ status: 400, code: 'MALFORMED_JSON' });
    const badSchema = await post('/dev/streams/add', { userId: 'ok-user', streamID: 'typo' });
    expect(badSchema.body).toMatchObject({ status: 400, code: 'VALIDATION_ERROR' });
  });

  it('decodes a base64-encoded body (isBase64Encoded), as API Gateway sends non-text payloads', async () => {
    const userId = uniqueId();
    const encoded = Buffer.from(JSON.stringify({ userId, streamId: 'b64' })).toString('base64');
    const answer = await invoke({ method: 'POST', rawPath: '/dev/streams/add', body: encoded, isBase64Encoded: true });
    expect(answer.statusCode).toBe(201);
    expect(answer.body).toMatchObject({ userId, streamId: 'b64' });
  });

  it('is binary-safe: multi-byte UTF-8 round-trips, invalid UTF-8 is a 400, an octet-stream is a 415', async () => {
    const userId = uniqueId();
    const title = 'Amélie 🎬 — 千と千尋';
    const added = await post('/dev/streams/add', { userId, streamId: 'utf8', metadata: { title } });
    expect(added.statusCode).toBe(201);
    const listed = await invoke({ method: 'GET', rawPath: `/dev/users/${userId}/streams` });
    expect(listed.statusCode).toBe(200);
    expect((listed.body.streams as { metadata?: { title?: string } }[])[0]?.metadata?.title).toBe(title);

    const invalidUtf8 = Buffer.from([0x7b, 0x22, 0x75, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]).toString('base64');
    const garbled = await invoke({
      method: 'POST',
      rawPath: '/dev/streams/add',
      body: invalidUtf8,
      isBase64Encoded: true,
    });
    expect(garbled.statusCode).toBe(400);
    expect(['MALFORMED_JSON', 'VALIDATION_ERROR']).toContain(garbled.body.code);

    const binary = Buffer.from([0x00, 0x01, 0x02, 0xff, 0x80, 0x7f]).toString('base64');
    const octets = await invoke({
      method: 'POST',
      rawPath: '/dev/streams/add',
      body: binary,
      isBase64Encoded: true,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(octets.statusCode).toBe(415);
    expect(octets.raw.isBase64Encoded).toBe(false);
  });

  it("echoes the caller's X-Request-Id and makes one up otherwise", async () => {
    const given = await invoke({
      method: 'GET',
      rawPath: '/dev/healthz',
      headers: { 'x-request-id': 'player-req:42' },
    });
    expect(given.statusCode).toBe(200);
    expect(given.headers['x-request-id']).toBe('player-req:42');
    const generated = await invoke({
      method: 'GET',
      rawPath: '/dev/healthz',
      headers: { 'x-request-id': 'bad id with spaces' },
    });
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("replays the original clients' Postman requests through the dev stage unchanged", async () => {
    const collection = JSON.parse(
      fs.readFileSync(path.join(__dirname, '../../postman/original-clients.postman_collection.json'), 'utf8'),
    ) as {
      item: {
        request: {
          method: string;
          url: { raw: string };
          header: { key: string; value: string }[];
          body: { raw: string };
        };
      }[];
    };
    const answers: Answer[] = [];
    for (const { request } of collection.item) {
      expect(request.url.raw).toMatch(/^\{\{baseUrl\}\}\/dev\/streams\/(add|remove)$/);
      expect(JSON.parse(request.body.raw)).toEqual({ userId: 'ab-12345' });
      const headers = Object.fromEntries(request.header.map(({ key, value }) => [key.toLowerCase(), value]));
      answers.push(
        await invoke({
          method: request.method,
          rawPath: request.url.raw.replace('{{baseUrl}}', ''),
          body: request.body.raw,
          headers,
        }),
      );
    }
    const [added, removed] = answers;
    expect(added?.statusCode).toBe(201);
    expect(added?.body).toMatchObject({ userId: 'ab-12345', activeStreams: 1 });
    expect(removed?.statusCode).toBe(200);
    expect(removed?.body).toMatchObject({ userId: 'ab-12345', streamId: added?.body.streamId, removed: true });
  });

  it('serves the same routes without the stage in the path (a custom domain mapping, or the $default stage)', async () => {
    const userId = uniqueId();
    const mapped = await post('/streams/add', { userId, streamId: 'custom-domain' });
    expect(mapped.statusCode).toBe(201);
    const defaultStage = await post('/streams/heartbeat', { userId, streamId: 'custom-domain' }, { stage: '$default' });
    expect(defaultStage.statusCode).toBe(200);
    expect(stagePrefix({ rawPath: '/development/x', requestContext: { stage: 'dev' } } as APIGatewayProxyEventV2)).toBe(
      '',
    );
  });

  it('points the docs page at its assets under the stage', async () => {
    const docs = await invoke({ method: 'GET', rawPath: '/dev/docs' });
    expect(docs.statusCode).toBe(200);
    const html = docs.raw.isBase64Encoded ? Buffer.from(docs.raw.body ?? '', 'base64').toString() : docs.raw.body;
    expect(html).toContain('/dev/docs/swagger-ui-bundle.js');
  });

  it('serves no /metrics: one container of many has nothing worth scraping (EMF replaces it)', async () => {
    expect((await invoke({ method: 'GET', rawPath: '/dev/metrics' })).statusCode).toBe(404);
  });

  it('builds config, store and app once per container, not per invoke', async () => {
    await invoke({ method: 'GET', rawPath: '/dev/healthz' });
    const readsAfterWarm = envReads;
    for (let i = 0; i < 3; i++) await post('/dev/streams/heartbeat', { userId: 'nobody', streamId: 'x' });
    expect(envReads).toBe(readsAfterWarm);
    expect(readsAfterWarm).toBeGreaterThan(0);
  });

  it('wrote EMF lines at the end of the invokes: namespace, Table dimension, counts and DynamoDB latency', () => {
    const parsed = emfLines.map(
      (line) =>
        JSON.parse(line) as Record<string, unknown> & {
          _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] };
        },
    );
    expect(parsed.length).toBeGreaterThan(0);
    for (const event of parsed) {
      expect(event._aws.CloudWatchMetrics[0]?.Namespace).toBe(EMF_NAMESPACE);
      expect(event.Table).toBe(table);
    }
    const sum = (name: string, filter: (e: Record<string, unknown>) => boolean = () => true) =>
      parsed.filter(filter).reduce((total, e) => total + (typeof e[name] === 'number' ? (e[name] as number) : 0), 0);
    const business = (e: Record<string, unknown>) => e.Operation === undefined && e.Kind === undefined;
    // Admitted in this file: 3 (limit) + s1 + b64 + utf8 + ab-12345 + custom-domain = 8.
    expect(sum('Admissions', business)).toBe(8);
    expect(sum('Rejections', business)).toBe(1);
    expect(sum('Terminations', business)).toBe(1);
    expect(sum('Heartbeats', business)).toBe(2);
    // 10 live-making answers (8 adds, 2 heartbeats), each worth 30 s of a minute.
    expect(sum('ConcurrentStreamsEstimate', business)).toBeCloseTo(10 * (30 / 60), 5);
    const updates = parsed.filter((e) => e.Operation === 'UpdateItem');
    expect(updates.length).toBeGreaterThan(0);
    expect(updates[0]?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['Table', 'Operation']]);
    expect(sum('DynamoDbWriteUnits', (e) => e.Operation === 'UpdateItem')).toBeGreaterThanOrEqual(8);
    const latency = updates.flatMap((e) =>
      Array.isArray(e.DynamoDbLatency) ? e.DynamoDbLatency : [e.DynamoDbLatency],
    );
    expect(latency.every((ms) => typeof ms === 'number' && ms > 0 && ms < 10_000)).toBe(true);
  });
});

describe('Lambda handler initialisation', () => {
  it('refuses the embedded store at init with the one-line configuration error, on every invoke', async () => {
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const handler = createLambdaHandler({ LOG_LEVEL: 'silent' });
      const event = httpApiEvent({ method: 'GET', rawPath: '/dev/healthz' });
      await expect(handler(event, lambdaContext())).rejects.toThrow(
        /DYNAMODB_ENDPOINT must be "aws" or an http\(s\) URL in Lambda/,
      );
      await expect(handler(event, lambdaContext())).rejects.toThrow(/DYNAMODB_ENDPOINT/);
      expect(stderr).toHaveBeenCalledTimes(1);
    } finally {
      stderr.mockRestore();
    }
  });
});
