import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import pino from 'pino';
import request from 'supertest';
import { DynamoStreamSource } from '../../src/events/dynamo-stream-source';
import { replacerDeviceFrom } from '../../src/events/feed-for-config';
import { TerminationFeed } from '../../src/events/termination-feed';
import { createHttpServer } from '../../src/http/server';
import { openEvents, parseEvents } from '../helpers/event-stream';
import { streamTable } from '../helpers/stream-table';
import { createTestApp, testEndpoint, uniqueId, type TestApp } from '../helpers/test-app';

const SECRET = 'test-secret-that-is-at-least-32-bytes-long!!';
const silent = pino({ level: 'silent' });

interface Harness {
  readonly t: TestApp;
  readonly feed: TerminationFeed;
  readonly url: string;
  readonly server: http.Server;
  close(): Promise<void>;
}

async function startHarness(
  env: Record<string, string> = {},
  serverLimits: Parameters<typeof createHttpServer>[1] = {},
): Promise<Harness> {
  const table = await streamTable('ev');
  const source = new DynamoStreamSource({
    endpoint: { kind: 'url', url: testEndpoint() },
    region: 'us-east-1',
    table,
    logger: silent,
    pollIntervalMs: 100,
  });
  // The feed reads replacers' devices through the app's own store, which createTestApp makes.
  const made: { app?: TestApp } = {};
  const feed = new TerminationFeed(source, {
    logger: silent,
    replacerDevice: (userId, streamId) => replacerDeviceFrom(made.app!.store)(userId, streamId),
  });
  const app = (made.app = await createTestApp(env, { table, deps: { streamEvents: { feed, keepAliveMs: 300 } } }));
  await feed.start();
  const server = createHttpServer(app.app, serverLimits);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    t: app,
    feed,
    url,
    server,
    close: async () => {
      await feed.stop();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      app.close();
    },
  };
}

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// Streams are live on the real clock: the feed's source and the service share it in these tests.
describe('GET /streams/events', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  async function add(body: Record<string, unknown>): Promise<void> {
    const res = await request(h.t.app).post('/streams/add').send(body);
    expect([200, 201]).toContain(res.status);
  }

  it('pushes `terminated` with reason replaced and the new stream (and its device) to the replaced player, then closes', async () => {
    const userId = uniqueId();
    await add({ userId, streamId: 'tv' });
    const events = await openEvents(h.url, { userId, streamId: 'tv' });
    expect(events.status).toBe(200);
    expect(events.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(events.headers['x-request-id']).toBeDefined();

    await add({ userId, streamId: 'tablet', deviceId: 'kitchen-tablet', replaceStreamId: 'tv' });
    const text = await events.ended;
    expect(parseEvents(text)).toEqual([
      {
        event: 'terminated',
        data: {
          userId,
          streamId: 'tv',
          reason: 'replaced',
          replacedBy: { streamId: 'tablet', deviceId: 'kitchen-tablet' },
        },
      },
    ]);
    // The same reason and replacedBy as the heartbeat's 410.
    const heartbeat = await request(h.t.app).post('/streams/heartbeat').send({ userId, streamId: 'tv' });
    expect(heartbeat.status).toBe(410);
    expect(heartbeat.body).toMatchObject({
      reason: 'replaced',
      replacedBy: { streamId: 'tablet', deviceId: 'kitchen-tablet' },
    });
  });

  it('pushes `terminated` with reason removed when another device removes the stream', async () => {
    const userId = uniqueId();
    await add({ userId, streamId: 'phone' });
    await add({ userId, streamId: 'tv' });
    const phone = await openEvents(h.url, { userId, streamId: 'phone' });
    const tv = await openEvents(h.url, { userId, streamId: 'tv' });
    await request(h.t.app).post('/streams/remove').send({ userId, streamId: 'phone' }).expect(200);
    expect(parseEvents(await phone.ended)).toEqual([
      { event: 'terminated', data: { userId, streamId: 'phone', reason: 'removed' } },
    ]);
    // The other stream of the same user hears nothing and stays open.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(parseEvents(tv.text())).toEqual([]);
    expect(h.feed.size).toBeGreaterThanOrEqual(1);
    tv.close();
  });

  it("reads back the replacing stream's deviceId when its display data lives in a display item", async () => {
    const userId = uniqueId();
    await add({ userId, streamId: 'tv' });
    const events = await openEvents(h.url, { userId, streamId: 'tv' });
    const deviceId = `d-${'x'.repeat(100)}`;
    await add({ userId, streamId: 'tablet', deviceId, metadata: { title: 'Big Buck Bunny' }, replaceStreamId: 'tv' });
    expect(parseEvents(await events.ended)[0]?.data).toMatchObject({
      reason: 'replaced',
      replacedBy: { streamId: 'tablet', deviceId },
    });
  });

  it('says nothing for heartbeats, adds, retries and other users', async () => {
    const userId = uniqueId();
    await add({ userId, streamId: 'tv' });
    const events = await openEvents(h.url, { userId, streamId: 'tv' });
    await request(h.t.app).post('/streams/heartbeat').send({ userId, streamId: 'tv' }).expect(200);
    await add({ userId, streamId: 'tv' });
    await add({ userId, streamId: 'phone' });
    const other = uniqueId();
    await add({ userId: other, streamId: 'tv' });
    await request(h.t.app).post('/streams/remove').send({ userId: other, streamId: 'tv' }).expect(200);
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(parseEvents(events.text())).toEqual([]);
    events.close();
  });

  it('answers 404 STREAM_NOT_FOUND for a stream that is not live at connect time', async () => {
    const userId = uniqueId();
    const unknown = await request(h.t.app).get('/streams/events').query({ userId, streamId: 'nope' });
    expect(unknown.status).toBe(404);
    expect(unknown.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(unknown.body).toMatchObject({ code: 'STREAM_NOT_FOUND', status: 404 });

    await add({ userId, streamId: 'tv' });
    await request(h.t.app).post('/streams/remove').send({ userId, streamId: 'tv' }).expect(200);
    const ended = await request(h.t.app).get('/streams/events').query({ userId, streamId: 'tv' });
    expect(ended.status).toBe(404);
    expect(h.feed.size).toBe(0);
  });

  it.each([
    ['a missing streamId', '?userId=u1', 'streamId'],
    ['an unknown parameter', '?userId=u1&streamId=s1&streamID=s2', 'streamID'],
    ['a repeated parameter', '?userId=u1&streamId=s1&streamId=s2', 'streamId'],
    ['a bad userId', '?userId=%20bad&streamId=s1', 'userId'],
  ])('refuses %s with 400 VALIDATION_ERROR', async (_name, query, path) => {
    const res = await request(h.t.app).get(`/streams/events${query}`);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'VALIDATION_ERROR' });
    expect((res.body as { errors: { path: string }[] }).errors.map((e) => e.path)).toContain(path);
  });

  it('sends keep-alive comments while idle', async () => {
    const userId = uniqueId();
    await add({ userId, streamId: 'tv' });
    const events = await openEvents(h.url, { userId, streamId: 'tv' });
    await waitFor(() => (events.text().match(/: keep-alive\n\n/g) ?? []).length >= 3);
    events.close();
    await waitFor(() => h.feed.size === 0);
  });

  it('ends every open event stream when the feed stops (SIGTERM) and then answers 503 with Retry-After', async () => {
    const own = await startHarness();
    try {
      const userId = uniqueId();
      await request(own.t.app).post('/streams/add').send({ userId, streamId: 'tv' }).expect(201);
      const events = await openEvents(own.url, { userId, streamId: 'tv' });
      await own.feed.stop();
      expect(parseEvents(await events.ended)).toEqual([]);
      const after = await request(own.t.app).get('/streams/events').query({ userId, streamId: 'tv' });
      expect(after.status).toBe(503);
      expect(after.headers['retry-after']).toBe('1');
    } finally {
      await own.close();
    }
  });
});

describe('GET /streams/events and the HTTP server', () => {
  it("is not cut by the server's request timeout: a stream outlives requestTimeout and headersTimeout", async () => {
    const h = await startHarness({}, { headersTimeoutMs: 300, requestTimeoutMs: 500, timeoutCheckIntervalMs: 100 });
    try {
      const userId = uniqueId();
      await request(h.t.app).post('/streams/add').send({ userId, streamId: 'tv' }).expect(201);
      const events = await openEvents(h.url, { userId, streamId: 'tv' });
      let ended = false;
      void events.ended.then(() => (ended = true));
      await new Promise((resolve) => setTimeout(resolve, 2000));
      expect(ended).toBe(false);
      const before = events.text().length;
      await waitFor(() => events.text().length > before);
      // Still delivers at the end.
      await request(h.t.app).post('/streams/remove').send({ userId, streamId: 'tv' }).expect(200);
      expect(parseEvents(await events.ended)).toHaveLength(1);
    } finally {
      await h.close();
    }
  });
});

describe('GET /streams/events without a feed (STREAM_EVENTS=off)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('answers 503 with a long Retry-After: heartbeats stay the truth', async () => {
    const res = await request(t.app).get('/streams/events').query({ userId: 'u1', streamId: 's1' });
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('300');
    expect(res.body).toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });
});

describe('GET /streams/events with AUTH_MODE=jwt', () => {
  let h: Harness;
  const token = (sub: string) =>
    new SignJWT({ sub })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(SECRET));

  beforeAll(async () => {
    h = await startHarness({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: SECRET });
  });
  afterAll(async () => {
    await h.close();
  });

  it('needs a bearer token (401), for the same user (403), and streams with it', async () => {
    const userId = uniqueId();
    const none = await request(h.t.app).get('/streams/events').query({ userId, streamId: 'tv' });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    const other = await request(h.t.app)
      .get('/streams/events')
      .query({ userId, streamId: 'tv' })
      .set('Authorization', `Bearer ${await token('someone-else')}`);
    expect(other.status).toBe(403);

    const auth = { Authorization: `Bearer ${await token(userId)}` };
    await request(h.t.app).post('/streams/add').set(auth).send({ userId, streamId: 'tv' }).expect(201);
    const events = await openEvents(h.url, { userId, streamId: 'tv' }, auth);
    expect(events.status).toBe(200);
    await request(h.t.app).post('/streams/remove').set(auth).send({ userId, streamId: 'tv' }).expect(200);
    expect(parseEvents(await events.ended)).toEqual([
      { event: 'terminated', data: { userId, streamId: 'tv', reason: 'removed' } },
    ]);
  });
});

describe('GET /streams/events under evict-oldest', () => {
  it('pushes `terminated` with reason evicted to the oldest stream', async () => {
    const h = await startHarness({ STREAM_POLICY: 'evict-oldest', STREAM_LIMIT: '2' });
    try {
      const userId = uniqueId();
      await request(h.t.app).post('/streams/add').send({ userId, streamId: 'oldest' }).expect(201);
      await request(h.t.app).post('/streams/add').send({ userId, streamId: 'second' }).expect(201);
      const events = await openEvents(h.url, { userId, streamId: 'oldest' });
      const third = await request(h.t.app).post('/streams/add').send({ userId, streamId: 'newest', deviceId: 'phone' });
      expect(third.status).toBe(201);
      expect(parseEvents(await events.ended)).toEqual([
        {
          event: 'terminated',
          data: {
            userId,
            streamId: 'oldest',
            reason: 'evicted',
            replacedBy: { streamId: 'newest', deviceId: 'phone' },
          },
        },
      ]);
    } finally {
      await h.close();
    }
  });
});
