import request from 'supertest';
import { leaseAttributes, rawItem } from '../helpers/raw-item';
import { createTestApp, uniqueId, type TestApp } from '../helpers/test-app';

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ STREAM_LIMIT: '3', LEASE_SECONDS: '90' });
});
afterAll(() => t.close());

const add = (body: object) => request(t.app).post('/streams/add').send(body);
const heartbeat = (body: object) => request(t.app).post('/streams/heartbeat').send(body);
const remove = (body: object) => request(t.app).post('/streams/remove').send(body);
const list = (userId: string) => request(t.app).get(`/users/${encodeURIComponent(userId)}/streams`);

async function fill(userId: string, streamIds: string[]): Promise<void> {
  for (const streamId of streamIds) {
    const res = await add({ userId, streamId });
    expect(res.status).toBe(201);
    t.clock.advance(10);
  }
}

describe('POST /streams/add', () => {
  it('admits a new stream with 201 and the contract body', async () => {
    const userId = uniqueId();
    const res = await add({ userId, streamId: 's1', deviceId: 'tv-1', metadata: { title: 'Big Buck Bunny' } });
    expect(res.status).toBe(201);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({
      userId,
      streamId: 's1',
      activeStreams: 1,
      limit: 3,
      expiresAt: new Date(t.clock.now() + 90_000).toISOString(),
      heartbeatIntervalSeconds: 30,
      slotsInUse: 1,
      policy: 'block-new',
    });
    expect(res.body.expiresAt).toMatch(ISO_MS);
    const item = await rawItem(t.table, userId);
    expect(item).toMatchObject({ cnt: 1, ver: 1, 'L:s1': { d: 'tv-1', m: { title: 'Big Buck Bunny' } } });
    expect(item?.T).toEqual(Array.from({ length: 8 }, () => ({})));
    expect(item?.gcAt).toBeGreaterThan(t.clock.now() / 1000 + 90);
  });

  it('generates a UUID streamId when the counter-style client sends only userId', async () => {
    const res = await add({ userId: uniqueId() });
    expect(res.status).toBe(201);
    expect(res.body.streamId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('treats null optional fields as absent', async () => {
    const res = await add({
      userId: uniqueId(),
      streamId: null,
      deviceId: null,
      metadata: null,
      replaceStreamId: null,
    });
    expect(res.status).toBe(201);
  });

  it('refuses a 4th stream with 409 listing the live ones, decided without a write', async () => {
    const userId = uniqueId();
    await add({ userId, streamId: 'a', deviceId: 'tv' });
    t.clock.advance(10);
    await fill(userId, ['b', 'c']);
    const before = await rawItem(t.table, userId);
    const res = await add({ userId, streamId: 'd' });
    expect(res.status).toBe(409);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 409, code: 'STREAM_LIMIT_REACHED', limit: 3, activeStreams: 3 });
    expect(res.body.streams.map((s: { streamId: string }) => s.streamId)).toEqual(['a', 'b', 'c']);
    expect(res.body.streams[0]).toEqual({
      streamId: 'a',
      deviceId: 'tv',
      weight: 1,
      startedAt: expect.stringMatching(ISO_MS),
      expiresAt: expect.stringMatching(ISO_MS),
    });
    expect(await rawItem(t.table, userId)).toEqual(before);
  });

  it('renews a retried add with 200 and never takes a second slot', async () => {
    const userId = uniqueId();
    await fill(userId, ['a', 'b', 'c']);
    t.clock.advance(5000);
    const res = await add({ userId, streamId: 'b' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      streamId: 'b',
      activeStreams: 3,
      expiresAt: new Date(t.clock.now() + 90_000).toISOString(),
    });
    const item = await rawItem(t.table, userId);
    expect(leaseAttributes(item)).toEqual(['L:a', 'L:b', 'L:c']);
    expect(item?.cnt).toBe(3);
  });

  it('takes one slot for 50 concurrent retries of the same stream', async () => {
    const userId = uniqueId();
    const answers = await Promise.all(Array.from({ length: 50 }, () => add({ userId, streamId: 'same' })));
    const statuses = answers.map((res) => res.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(49);
    const item = await rawItem(t.table, userId);
    expect(leaseAttributes(item)).toEqual(['L:same']);
    expect(item?.cnt).toBe(1);
  });

  it('admits exactly the limit out of 60 concurrent adds of distinct streams', async () => {
    const userId = uniqueId();
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => add({ userId, streamId: `s${i}` })));
    expect(answers.filter((res) => res.status === 201)).toHaveLength(3);
    expect(answers.filter((res) => res.status === 409)).toHaveLength(57);
    expect(leaseAttributes(await rawItem(t.table, userId))).toHaveLength(3);
  });

  it('stops counting a crashed player once its lease runs out, without waiting for TTL', async () => {
    const userId = uniqueId();
    await fill(userId, ['a', 'b', 'c']);
    t.clock.advance(90_000);
    const res = await add({ userId, streamId: 'd' });
    expect(res.status).toBe(201);
    expect(res.body.activeStreams).toBe(1);
    const item = await rawItem(t.table, userId);
    expect(leaseAttributes(item)).toEqual(['L:d']);
    expect(item?.cnt).toBe(1);
  });

  it('replaces a live stream at the limit atomically and the replaced one answers 410 naming the new one', async () => {
    const userId = uniqueId();
    await fill(userId, ['a', 'b', 'c']);
    const res = await add({ userId, streamId: 'd', deviceId: 'phone', replaceStreamId: 'a' });
    expect(res.status).toBe(201);
    expect(res.body.activeStreams).toBe(3);
    const hb = await heartbeat({ userId, streamId: 'a' });
    expect(hb.status).toBe(410);
    expect(hb.body).toMatchObject({
      code: 'STREAM_TERMINATED',
      reason: 'replaced',
      replacedBy: { streamId: 'd', deviceId: 'phone' },
    });
    const retry = await add({ userId, streamId: 'd', deviceId: 'phone', replaceStreamId: 'a' });
    expect(retry.status).toBe(200);
    expect((await heartbeat({ userId, streamId: 'a' })).status).toBe(410);
  });

  it('lets no other device take the slot a replace frees, under contention', async () => {
    const userId = uniqueId();
    await fill(userId, ['a', 'b', 'c']);
    const answers = await Promise.all([
      add({ userId, streamId: 'new', replaceStreamId: 'a' }),
      ...Array.from({ length: 20 }, (_, i) => add({ userId, streamId: `intruder-${i}` })),
    ]);
    expect(answers[0]!.status).toBe(201);
    expect(answers.slice(1).every((res) => res.status === 409)).toBe(true);
    expect(leaseAttributes(await rawItem(t.table, userId))).toEqual(['L:b', 'L:c', 'L:new']);
  });

  it('treats a replace of a stream that is not live as a plain add', async () => {
    const userId = uniqueId();
    await fill(userId, ['a']);
    expect((await add({ userId, streamId: 'b', replaceStreamId: 'unknown' })).status).toBe(201);
    expect((await list(userId)).body.activeStreams).toBe(2);
  });

  it("does not let a replace end another user's stream", async () => {
    const owner = uniqueId();
    await fill(owner, ['theirs']);
    const res = await add({ userId: uniqueId(), streamId: 'mine', replaceStreamId: 'theirs' });
    expect(res.status).toBe(201);
    expect((await heartbeat({ userId: owner, streamId: 'theirs' })).status).toBe(200);
  });

  it('forgets a termination when the same stream id is added again', async () => {
    const userId = uniqueId();
    await fill(userId, ['a']);
    await remove({ userId, streamId: 'a' });
    expect((await add({ userId, streamId: 'a' })).status).toBe(201);
    expect((await heartbeat({ userId, streamId: 'a' })).status).toBe(200);
  });
});

describe('POST /streams/heartbeat', () => {
  it('extends a live lease by LEASE_SECONDS from now', async () => {
    const userId = uniqueId();
    await fill(userId, ['a']);
    t.clock.advance(60_000);
    const res = await heartbeat({ userId, streamId: 'a' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      userId,
      streamId: 'a',
      activeStreams: 1,
      limit: 3,
      expiresAt: new Date(t.clock.now() + 90_000).toISOString(),
      heartbeatIntervalSeconds: 30,
      slotsInUse: 1,
      policy: 'block-new',
    });
    t.clock.advance(60_000);
    expect((await heartbeat({ userId, streamId: 'a' })).status).toBe(200);
  });

  it('answers 404 for an unknown stream and for an expired one', async () => {
    const userId = uniqueId();
    const unknown = await heartbeat({ userId, streamId: 'nope' });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ code: 'STREAM_NOT_FOUND', status: 404 });
    await fill(userId, ['a']);
    t.clock.advance(90_001);
    expect((await heartbeat({ userId, streamId: 'a' })).body.code).toBe('STREAM_NOT_FOUND');
  });

  it('answers 410 removed after a remove, and 404 once LEASE_SECONDS have passed', async () => {
    const userId = uniqueId();
    await fill(userId, ['a']);
    await remove({ userId, streamId: 'a' });
    const res = await heartbeat({ userId, streamId: 'a' });
    expect(res.status).toBe(410);
    expect(res.body).toMatchObject({ code: 'STREAM_TERMINATED', reason: 'removed' });
    expect(res.body.replacedBy).toBeUndefined();
    t.clock.advance(90_000);
    expect((await heartbeat({ userId, streamId: 'a' })).status).toBe(404);
  });
});

describe('POST /streams/remove', () => {
  it('removes a live stream and is idempotent', async () => {
    const userId = uniqueId();
    await fill(userId, ['a', 'b']);
    const first = await remove({ userId, streamId: 'a' });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ userId, streamId: 'a', removed: true, activeStreams: 1, limit: 3 });
    const second = await remove({ userId, streamId: 'a' });
    expect(second.body).toEqual({ userId, streamId: 'a', removed: false, activeStreams: 1, limit: 3 });
    const item = await rawItem(t.table, userId);
    expect(item).toMatchObject({ cnt: 1 });
    expect((item?.T as object[]).filter((slot) => 'i' in slot)).toHaveLength(1);
    expect(leaseAttributes(item)).toEqual(['L:b']);
  });

  it('without streamId releases the live stream expiring soonest', async () => {
    const userId = uniqueId();
    await fill(userId, ['a', 'b', 'c']);
    t.clock.advance(1000);
    await heartbeat({ userId, streamId: 'a' });
    const res = await remove({ userId });
    expect(res.body).toMatchObject({ streamId: 'b', removed: true, activeStreams: 2 });
    expect((await remove({ userId, streamId: null })).body).toMatchObject({ streamId: 'c', removed: true });
  });

  it('without streamId and nothing live answers streamId null, removed false', async () => {
    const res = await remove({ userId: uniqueId() });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ streamId: null, removed: false, activeStreams: 0, limit: 3 });
  });

  it('reports removed false for an expired stream', async () => {
    const userId = uniqueId();
    await fill(userId, ['a']);
    t.clock.advance(90_000);
    expect((await remove({ userId, streamId: 'a' })).body).toMatchObject({ removed: false, activeStreams: 0 });
  });

  it('keeps the item bounded when a user starts and stops streams faster than the lease', async () => {
    const userId = uniqueId();
    for (let i = 0; i < 40; i++) {
      await add({ userId, streamId: `s${i}` });
      await remove({ userId, streamId: `s${i}` });
    }
    const item = await rawItem(t.table, userId);
    // The ring: always eight slots, here the eight newest terminations, oldest first.
    expect((item?.T as { i?: string }[]).map((slot) => slot.i)).toEqual(
      Array.from({ length: 8 }, (_, i) => `s${32 + i}`),
    );
    expect((await heartbeat({ userId, streamId: 's39' })).status).toBe(410);
  });
});

describe('GET /users/{userId}/streams', () => {
  it('lists live leases ordered by startedAt, with metadata', async () => {
    const userId = uniqueId();
    await add({ userId, streamId: 'z', deviceId: 'tv', metadata: { title: 'x' } });
    t.clock.advance(10);
    await fill(userId, ['a']);
    const res = await list(userId);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ userId, limit: 3, activeStreams: 2 });
    expect(res.body.streams.map((s: { streamId: string }) => s.streamId)).toEqual(['z', 'a']);
    expect(res.body.streams[0]).toEqual({
      streamId: 'z',
      deviceId: 'tv',
      metadata: { title: 'x' },
      weight: 1,
      startedAt: expect.stringMatching(ISO_MS),
      expiresAt: expect.stringMatching(ISO_MS),
    });
  });

  it('lists a user with no streams as 200 and an empty list', async () => {
    const userId = uniqueId();
    expect((await list(userId)).body).toEqual({
      userId,
      limit: 3,
      activeStreams: 0,
      slotsInUse: 0,
      policy: 'block-new',
      streams: [],
    });
  });

  it('leaves expired leases out', async () => {
    const userId = uniqueId();
    await fill(userId, ['a']);
    t.clock.advance(90_000);
    expect((await list(userId)).body.streams).toEqual([]);
  });

  it('refuses a malformed userId with VALIDATION_ERROR on path userId', async () => {
    const res = await list('-bad');
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'VALIDATION_ERROR', errors: [{ path: 'userId' }] });
  });
});

describe('per-user limits', () => {
  it("raises and lowers a user's limit; lowering never cuts live streams; the override survives TTL", async () => {
    const userId = uniqueId();
    await fill(userId, ['a', 'b', 'c']);
    const raised = await request(t.app).put(`/users/${userId}/limit`).send({ limit: 4 });
    expect(raised.status).toBe(200);
    expect(raised.body).toMatchObject({ userId, limit: 4, activeStreams: 3 });
    expect((await add({ userId, streamId: 'd' })).status).toBe(201);
    const lowered = await request(t.app).put(`/users/${userId}/limit`).send({ limit: 2 });
    expect(lowered.body).toMatchObject({ limit: 2, activeStreams: 4 });
    const refused = await add({ userId, streamId: 'e' });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ limit: 2, activeStreams: 4 });
    expect((await heartbeat({ userId, streamId: 'a' })).status).toBe(200);
    expect((await add({ userId, streamId: 'e', replaceStreamId: 'a' })).status).toBe(201);
    const item = await rawItem(t.table, userId);
    expect(item).toMatchObject({ lim: 2, gcAt: 'pinned' });
    const cleared = await request(t.app).delete(`/users/${userId}/limit`);
    expect(cleared.body).toMatchObject({ limit: 3, activeStreams: 4 });
    expect(typeof (await rawItem(t.table, userId))?.gcAt).toBe('number');
  });

  it("keeps a fresh user's override pinned when their first stream is admitted", async () => {
    const userId = uniqueId();
    await request(t.app).put(`/users/${userId}/limit`).send({ limit: 1 });
    expect((await add({ userId, streamId: 'a' })).body).toMatchObject({ limit: 1, activeStreams: 1 });
    expect((await add({ userId, streamId: 'b' })).status).toBe(409);
    expect((await rawItem(t.table, userId))?.gcAt).toBe('pinned');
  });

  it('validates the limit', async () => {
    const res = await request(t.app).put(`/users/${uniqueId()}/limit`).send({ limit: 101 });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ path: 'limit', message: expect.any(String) }]);
  });
});
