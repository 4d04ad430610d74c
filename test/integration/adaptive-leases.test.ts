import request from 'supertest';
import { startDynamoProxy, type DynamoProxy } from '../../support/dynamo-proxy';
import { createTestApp, testEndpoint, uniqueId, type TestApp } from '../helpers/test-app';

/*
 * Adaptive leases (LEASE_MAX_SECONDS=300 over LEASE_SECONDS=90): a user with a free slot after the
 * write gets 300 s leases and 100 s heartbeats; a full user 90 s and 30 s. DynamoDB calls are
 * counted on the wire: the term costs a second call only when the user's headroom changes.
 */
let proxy: DynamoProxy;
let t: TestApp;

beforeAll(async () => {
  proxy = await startDynamoProxy(testEndpoint());
  t = await createTestApp({ LEASE_MAX_SECONDS: '300' }, { endpoint: proxy.endpoint });
});
afterAll(async () => {
  t.close();
  await proxy.close();
});

const add = (body: object) => request(t.app).post('/streams/add').send(body);
const heartbeat = (userId: string, streamId: string) =>
  request(t.app).post('/streams/heartbeat').send({ userId, streamId });
const term = (res: request.Response) => ({
  seconds: (Date.parse(res.body.expiresAt) - t.clock.now()) / 1000,
  interval: res.body.heartbeatIntervalSeconds,
});
async function callsFor(action: () => Promise<unknown>): Promise<Record<string, number>> {
  proxy.resetCounts();
  await action();
  return proxy.counts();
}

it('grants long leases while a slot stays free, short ones once the user is full, and back again', async () => {
  const userId = uniqueId();
  let res: request.Response | undefined;
  expect(await callsFor(async () => (res = await add({ userId, streamId: 'a' }).expect(201)))).toEqual({
    UpdateItem: 1,
  });
  expect(term(res!)).toEqual({ seconds: 300, interval: 100 });
  expect(term(await add({ userId, streamId: 'b' }).expect(201))).toEqual({ seconds: 300, interval: 100 });
  // The add that fills the user: the fast path can only grant the long term, so the rules decide (two calls).
  expect(await callsFor(async () => (res = await add({ userId, streamId: 'c' }).expect(201)))).toEqual({
    UpdateItem: 2,
  });
  expect(term(res!)).toEqual({ seconds: 90, interval: 30 });

  // a's next heartbeat finds the user full: short from now on (one transition, then one call each).
  expect(await callsFor(async () => (res = await heartbeat(userId, 'a').expect(200)))).toEqual({ UpdateItem: 2 });
  expect(term(res!)).toEqual({ seconds: 90, interval: 30 });
  expect(await callsFor(async () => (res = await heartbeat(userId, 'a').expect(200)))).toEqual({ UpdateItem: 1 });
  expect(term(res!)).toEqual({ seconds: 90, interval: 30 });

  await request(t.app).post('/streams/remove').send({ userId, streamId: 'c' }).expect(200);
  expect(term(await heartbeat(userId, 'a').expect(200))).toEqual({ seconds: 300, interval: 100 });
  expect(await callsFor(async () => (res = await heartbeat(userId, 'b').expect(200)))).toEqual({ UpdateItem: 1 });
  expect(term(res!)).toEqual({ seconds: 300, interval: 100 });
});

it("holds a crashed player's slot at most its last granted lease (LEASE_MAX_SECONDS), even after the user fills up", async () => {
  const userId = uniqueId();
  await add({ userId, streamId: 'crashed' }).expect(201); // 300 s, then silence
  await add({ userId, streamId: 'b' }).expect(201);
  await add({ userId, streamId: 'c' }).expect(201);
  const keepOthersAlive = async () => {
    await heartbeat(userId, 'b').expect(200);
    await heartbeat(userId, 'c').expect(200);
  };
  for (let elapsed = 0; elapsed < 270; elapsed += 30) {
    t.clock.advance(30_000);
    await keepOthersAlive();
  }
  t.clock.advance(29_999); // 299.999 s after its last lease was granted: still holding its slot
  await keepOthersAlive();
  expect((await add({ userId, streamId: 'd' })).status).toBe(409);
  t.clock.advance(1);
  expect((await add({ userId, streamId: 'd' })).status).toBe(201);
});

it('remembers a termination for LEASE_MAX_SECONDS, so a player on a long lease hears 410, not 404', async () => {
  const userId = uniqueId();
  await add({ userId, streamId: 'a' }).expect(201);
  await add({ userId, streamId: 'b', replaceStreamId: 'a' }).expect(201);
  t.clock.advance(200_000);
  await heartbeat(userId, 'b').expect(200);
  expect((await heartbeat(userId, 'a')).status).toBe(410);
  t.clock.advance(100_000);
  expect((await heartbeat(userId, 'a')).status).toBe(404);
});

it("keeps a retried add on the term the user's headroom allows", async () => {
  const userId = uniqueId();
  await add({ userId, streamId: 'a' }).expect(201);
  await add({ userId, streamId: 'b' }).expect(201);
  await add({ userId, streamId: 'c' }).expect(201);
  const retried = await add({ userId, streamId: 'a' }).expect(200);
  expect(term(retried)).toEqual({ seconds: 90, interval: 30 });
});

it('keeps the term apart from an inline deviceId: a player with a device name gets long heartbeats in one write', async () => {
  const userId = uniqueId();
  let res: request.Response | undefined;
  await add({ userId, streamId: 'a', deviceId: 'tv' }).expect(201);
  expect(await callsFor(async () => (res = await heartbeat(userId, 'a').expect(200)))).toEqual({ UpdateItem: 1 });
  expect(term(res!)).toEqual({ seconds: 300, interval: 100 });
});
