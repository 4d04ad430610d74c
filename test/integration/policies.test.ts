import request from 'supertest';
import { createMetrics } from '../../src/metrics';
import { startDynamoProxy, type DynamoProxy } from '../../support/dynamo-proxy';
import { rawItem } from '../helpers/raw-item';
import { createTestApp, testEndpoint, uniqueId, type TestApp } from '../helpers/test-app';

/* Issue 14 over HTTP: weighted streams, evict-oldest, the check preflight and STORE_FAILURE_MODE=open. */

const ids = (streams: Array<{ streamId: string }>) => streams.map((stream) => stream.streamId);

describe('weighted streams (block-new)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());
  const add = (body: object) => request(t.app).post('/streams/add').send(body);

  it('lets one UHD (2) and one HD (1) fill a limit of 3, and refuses another HD with slotsInUse in the 409', async () => {
    const userId = uniqueId();
    expect((await add({ userId, streamId: 'uhd', weight: 2 })).body).toMatchObject({
      activeStreams: 1,
      slotsInUse: 2,
      policy: 'block-new',
    });
    t.clock.advance(10);
    expect((await add({ userId, streamId: 'hd' })).body).toMatchObject({ activeStreams: 2, slotsInUse: 3 });
    const refused = await add({ userId, streamId: 'hd2' });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'STREAM_LIMIT_REACHED', limit: 3, activeStreams: 2, slotsInUse: 3 });
    expect(refused.body.streams.map((s: { weight: number }) => s.weight)).toEqual([2, 1]);
    const listed = await request(t.app).get(`/users/${userId}/streams`);
    expect(listed.body).toMatchObject({ activeStreams: 2, slotsInUse: 3, policy: 'block-new' });
  });

  it('admits weight-0 streams when full, lists them, and refuses an 11th', async () => {
    const userId = uniqueId();
    for (const streamId of ['a', 'b', 'c']) expect((await add({ userId, streamId })).status).toBe(201);
    for (let i = 0; i < 10; i++) {
      const res = await add({ userId, streamId: `trailer-${i}`, weight: 0 });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ slotsInUse: 3, activeStreams: 4 + i });
    }
    expect((await add({ userId, streamId: 'trailer-10', weight: 0 })).status).toBe(409);
    // A removed weight-0 stream frees its place among the ten.
    await request(t.app).post('/streams/remove').send({ userId, streamId: 'trailer-3' }).expect(200);
    expect((await add({ userId, streamId: 'trailer-10', weight: 0 })).status).toBe(201);
    const item = await rawItem(t.table, userId);
    expect(item).toMatchObject({ cnt: 13, sl: 3, z: 10 });
  });

  it('refuses a stream heavier than the limit', async () => {
    const res = await add({ userId: uniqueId(), weight: 4 });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ activeStreams: 0, slotsInUse: 0 });
  });

  it('admits a replace when the new weight fits in the slots it frees plus the free ones', async () => {
    const userId = uniqueId();
    await add({ userId, streamId: 'a' });
    await add({ userId, streamId: 'b' });
    // One free slot plus the one 'a' frees: a UHD fits.
    const res = await add({ userId, streamId: 'uhd', weight: 2, replaceStreamId: 'a' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ slotsInUse: 3, activeStreams: 2 });
    const kicked = await request(t.app).post('/streams/heartbeat').send({ userId, streamId: 'a' });
    expect(kicked.body).toMatchObject({ status: 410, reason: 'replaced', replacedBy: { streamId: 'uhd' } });
    // Now full: replacing an HD (1) by another UHD (2) does not fit.
    expect((await add({ userId, streamId: 'uhd2', weight: 2, replaceStreamId: 'b' })).status).toBe(409);
  });

  it('keeps the weight first admitted on a retry', async () => {
    const userId = uniqueId();
    await add({ userId, streamId: 's', weight: 2 });
    const retried = await add({ userId, streamId: 's', weight: 1 });
    expect(retried.status).toBe(200);
    expect(retried.body.slotsInUse).toBe(2);
  });

  it('refuses a weight outside 0-10 or not an integer, naming weight', async () => {
    for (const weight of [-1, 11, 1.5, '2']) {
      const res = await add({ userId: uniqueId(), weight });
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([expect.objectContaining({ path: 'weight' })]);
    }
  });
});

describe('evict-oldest', () => {
  let t: TestApp;
  const metrics = createMetrics();
  beforeAll(async () => {
    t = await createTestApp({ STREAM_POLICY: 'evict-oldest' }, { deps: { metrics } });
  });
  afterAll(() => t.close());
  const add = (body: object) => request(t.app).post('/streams/add').send(body);
  const heartbeat = (userId: string, streamId: string) =>
    request(t.app).post('/streams/heartbeat').send({ userId, streamId });

  it('ends the oldest live stream in the same write, names it in evicted, and its heartbeat answers 410 evicted', async () => {
    const userId = uniqueId();
    for (const streamId of ['a', 'b', 'c']) {
      await add({ userId, streamId, deviceId: `dev-${streamId}` }).expect(201);
      t.clock.advance(10);
    }
    const res = await add({ userId, streamId: 'd', deviceId: 'dev-d' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      activeStreams: 3,
      slotsInUse: 3,
      policy: 'evict-oldest',
      evicted: [{ streamId: 'a', deviceId: 'dev-a' }],
    });
    const kicked = await heartbeat(userId, 'a');
    expect(kicked.status).toBe(410);
    expect(kicked.body).toMatchObject({
      code: 'STREAM_TERMINATED',
      reason: 'evicted',
      replacedBy: { streamId: 'd', deviceId: 'dev-d' },
    });
    expect(await metrics.registry.getSingleMetricAsString('stream_limiter_evictions_total')).toMatch(/ [1-9]\d*$/m);
  });

  it('never evicts a second stream on a retried add', async () => {
    const userId = uniqueId();
    for (const streamId of ['a', 'b', 'c']) {
      await add({ userId, streamId }).expect(201);
      t.clock.advance(10);
    }
    await add({ userId, streamId: 'd' }).expect(201);
    const retried = await add({ userId, streamId: 'd' });
    expect(retried.status).toBe(200);
    expect(retried.body.evicted).toBeUndefined();
    const listed = await request(t.app).get(`/users/${userId}/streams`);
    expect(ids(listed.body.streams)).toEqual(['b', 'c', 'd']);
  });

  it('ends as many of the oldest as a UHD stream needs, and never a weight-0 one', async () => {
    const userId = uniqueId();
    await add({ userId, streamId: 'trailer', weight: 0 }).expect(201);
    for (const streamId of ['a', 'b', 'c']) {
      t.clock.advance(10);
      await add({ userId, streamId }).expect(201);
    }
    const res = await add({ userId, streamId: 'uhd', weight: 2 });
    expect(res.status).toBe(201);
    expect(ids(res.body.evicted)).toEqual(['a', 'b']);
    const listed = await request(t.app).get(`/users/${userId}/streams`);
    expect(ids(listed.body.streams)).toEqual(['trailer', 'c', 'uhd']);
    expect(listed.body.slotsInUse).toBe(3);
  });

  it('still refuses a stream heavier than the limit', async () => {
    expect((await add({ userId: uniqueId(), weight: 5 })).status).toBe(409);
  });

  it('follows a per-user policy set with PUT /users/{id}/limit, and DELETE returns both to the defaults', async () => {
    const userId = uniqueId();
    const put = await request(t.app).put(`/users/${userId}/limit`).send({ policy: 'block-new', limit: 2 });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ limit: 2, policy: 'block-new' });
    await add({ userId, streamId: 'a' }).expect(201);
    await add({ userId, streamId: 'b' }).expect(201);
    expect((await add({ userId, streamId: 'c' })).status).toBe(409);
    const cleared = await request(t.app).delete(`/users/${userId}/limit`);
    expect(cleared.body).toMatchObject({ limit: 3, policy: 'evict-oldest' });
    expect((await request(t.app).put(`/users/${userId}/limit`).send({})).status).toBe(400);
    expect((await request(t.app).put(`/users/${userId}/limit`).send({ policy: 'newest' })).status).toBe(400);
  });
});

describe('POST /streams/check', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());
  const check = (body: object) => request(t.app).post('/streams/check').send(body);

  it('says whether an add would be admitted, lists the live streams, and writes nothing', async () => {
    const userId = uniqueId();
    expect((await check({ userId })).body).toEqual({
      userId,
      allowed: true,
      activeStreams: 0,
      slotsInUse: 0,
      limit: 3,
      policy: 'block-new',
      streams: [],
    });
    for (const streamId of ['a', 'b'])
      await request(t.app).post('/streams/add').send({ userId, streamId, deviceId: 'tv' }).expect(201);
    const before = await rawItem(t.table, userId);
    expect((await check({ userId })).body).toMatchObject({ allowed: true, activeStreams: 2, slotsInUse: 2 });
    const uhd = await check({ userId, weight: 2 });
    expect(uhd.body).toMatchObject({
      allowed: false,
      streams: [{ streamId: 'a', deviceId: 'tv', weight: 1 }, { streamId: 'b' }],
    });
    expect(uhd.body.wouldEvict).toBeUndefined();
    expect(await rawItem(t.table, userId)).toEqual(before);
  });

  it('under evict-oldest, allows a full user and names the streams that would go in wouldEvict', async () => {
    const userId = uniqueId();
    for (const streamId of ['a', 'b', 'c']) {
      await request(t.app).post('/streams/add').send({ userId, streamId }).expect(201);
      t.clock.advance(10);
    }
    await request(t.app).put(`/users/${userId}/limit`).send({ policy: 'evict-oldest' }).expect(200);
    expect((await check({ userId, weight: 2 })).body).toMatchObject({
      allowed: true,
      policy: 'evict-oldest',
      wouldEvict: [{ streamId: 'a' }, { streamId: 'b' }],
    });
    expect((await check({ userId, weight: 0 })).body).toMatchObject({ allowed: true, wouldEvict: [] });
  });

  it('refuses unknown fields and bad weights like add does', async () => {
    expect((await check({ userId: uniqueId(), streamId: 's' })).status).toBe(400);
    expect((await check({ userId: uniqueId(), weight: 11 })).status).toBe(400);
  });
});

describe('STORE_FAILURE_MODE=open', () => {
  let proxy: DynamoProxy;
  let t: TestApp;
  const metrics = createMetrics();
  beforeAll(async () => {
    proxy = await startDynamoProxy(testEndpoint());
    t = await createTestApp(
      { STORE_FAILURE_MODE: 'open', DYNAMODB_TIMEOUT_MS: '300' },
      { endpoint: proxy.endpoint, deps: { metrics } },
    );
  });
  afterEach(() => proxy.setFault({ mode: 'pass' }));
  afterAll(async () => {
    t.close();
    await proxy.close();
  });

  it('answers add 201 and heartbeat 200 with degraded: true and an unstored lease of LEASE_SECONDS while the store is down', async () => {
    const userId = uniqueId();
    await proxy.setFault({ mode: 'refuse' });
    const added = await request(t.app).post('/streams/add').send({ userId, streamId: 's' });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ userId, streamId: 's', degraded: true, heartbeatIntervalSeconds: 30 });
    expect(Date.parse(added.body.expiresAt) - t.clock.now()).toBe(90_000);
    const beat = await request(t.app).post('/streams/heartbeat').send({ userId, streamId: 's' });
    expect(beat.status).toBe(200);
    expect(beat.body.degraded).toBe(true);
    expect(await metrics.registry.getSingleMetricAsString('stream_limiter_degraded_admissions_total')).toMatch(/ 2$/m);

    // Back up: the store never saw the stream, so its heartbeat is a 404 and the player adds again.
    await proxy.setFault({ mode: 'pass' });
    expect((await request(t.app).post('/streams/heartbeat').send({ userId, streamId: 's' })).status).toBe(404);
    const readmitted = await request(t.app).post('/streams/add').send({ userId, streamId: 's' });
    expect(readmitted.status).toBe(201);
    expect(readmitted.body.degraded).toBeUndefined();
  });

  it('still answers remove, check and list 503 during the outage', async () => {
    await proxy.setFault({ mode: 'refuse' });
    const userId = uniqueId();
    expect((await request(t.app).post('/streams/remove').send({ userId, streamId: 's' })).status).toBe(503);
    expect((await request(t.app).post('/streams/check').send({ userId })).status).toBe(503);
    expect((await request(t.app).get(`/users/${userId}/streams`)).status).toBe(503);
  });

  it('never turns a refusal the store gave into a degraded admission', async () => {
    const userId = uniqueId();
    for (const streamId of ['a', 'b', 'c'])
      await request(t.app).post('/streams/add').send({ userId, streamId }).expect(201);
    const refused = await request(t.app).post('/streams/add').send({ userId, streamId: 'd' });
    expect(refused.status).toBe(409);
    expect(refused.body.degraded).toBeUndefined();
  });
});
