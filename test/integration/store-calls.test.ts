import request from 'supertest';
import { startDynamoProxy, type DynamoProxy } from '../../support/dynamo-proxy';
import { createTestApp, testEndpoint, uniqueId, type TestApp } from '../helpers/test-app';

/** DynamoDB calls per API request, counted on the wire by a proxy, not estimated. */
let proxy: DynamoProxy;
let t: TestApp;

beforeAll(async () => {
  proxy = await startDynamoProxy(testEndpoint());
  t = await createTestApp({}, { endpoint: proxy.endpoint });
});
afterAll(async () => {
  t.close();
  await proxy.close();
});

async function callsFor(action: () => Promise<unknown>): Promise<Record<string, number>> {
  proxy.resetCounts();
  await action();
  return proxy.counts();
}

it('adds, heartbeats and removes with one UpdateItem each', async () => {
  const userId = uniqueId();
  expect(await callsFor(() => request(t.app).post('/streams/add').send({ userId, streamId: 'a' }).expect(201))).toEqual(
    { UpdateItem: 1 },
  );
  expect(
    await callsFor(() => request(t.app).post('/streams/heartbeat').send({ userId, streamId: 'a' }).expect(200)),
  ).toEqual({ UpdateItem: 1 });
  expect(
    await callsFor(() => request(t.app).post('/streams/remove').send({ userId, streamId: 'a' }).expect(200)),
  ).toEqual({ UpdateItem: 1 });
  expect(
    await callsFor(() => request(t.app).post('/streams/heartbeat').send({ userId, streamId: 'a' }).expect(410)),
  ).toEqual({ UpdateItem: 1 });
});

it('decides a 409 from the item returned by the failed condition, with no second read', async () => {
  const userId = uniqueId();
  for (const streamId of ['a', 'b', 'c'])
    await request(t.app).post('/streams/add').send({ userId, streamId }).expect(201);
  const calls = await callsFor(() => request(t.app).post('/streams/add').send({ userId, streamId: 'd' }).expect(409));
  expect(calls).toEqual({ UpdateItem: 1 });
});

it('replaces in one UpdateItem', async () => {
  const userId = uniqueId();
  for (const streamId of ['a', 'b', 'c'])
    await request(t.app).post('/streams/add').send({ userId, streamId }).expect(201);
  expect(
    await callsFor(() =>
      request(t.app).post('/streams/add').send({ userId, streamId: 'd', replaceStreamId: 'a' }).expect(201),
    ),
  ).toEqual({
    UpdateItem: 1,
  });
});

it('lists with one consistent GetItem', async () => {
  expect(await callsFor(() => request(t.app).get(`/users/${uniqueId()}/streams`).expect(200))).toEqual({ GetItem: 1 });
});

it('pays a second call only where the rules need the item: retries, expired leases, counter-style remove', async () => {
  const userId = uniqueId();
  await request(t.app).post('/streams/add').send({ userId, streamId: 'a' }).expect(201);
  expect(await callsFor(() => request(t.app).post('/streams/add').send({ userId, streamId: 'a' }).expect(200))).toEqual(
    { UpdateItem: 2 },
  );
  expect(await callsFor(() => request(t.app).post('/streams/remove').send({ userId }).expect(200))).toEqual({
    GetItem: 1,
    UpdateItem: 1,
  });
});

describe('policies and weights', () => {
  let evicting: TestApp;
  beforeAll(async () => {
    evicting = await createTestApp({ STREAM_POLICY: 'evict-oldest' }, { endpoint: proxy.endpoint });
  });
  afterAll(() => evicting.close());
  const add = (body: object) => request(evicting.app).post('/streams/add').send(body);

  it('admits under evict-oldest in one UpdateItem while there is room, and evicts with two and no read', async () => {
    const userId = uniqueId();
    for (const streamId of ['a', 'b', 'c']) {
      expect(await callsFor(() => add({ userId, streamId }).expect(201))).toEqual({ UpdateItem: 1 });
      evicting.clock.advance(10);
    }
    // The failed condition hands back the item; the eviction is decided on it and written once, guarded by its version.
    expect(await callsFor(() => add({ userId, streamId: 'd' }).expect(201))).toEqual({ UpdateItem: 2 });
  });

  it('adds and removes weighted streams in one UpdateItem each, and checks with one GetItem', async () => {
    const userId = uniqueId();
    expect(await callsFor(() => add({ userId, streamId: 'uhd', weight: 2 }).expect(201))).toEqual({ UpdateItem: 1 });
    expect(await callsFor(() => add({ userId, streamId: 'trailer', weight: 0 }).expect(201))).toEqual({
      UpdateItem: 1,
    });
    expect(
      await callsFor(() => request(evicting.app).post('/streams/remove').send({ userId, streamId: 'uhd' }).expect(200)),
    ).toEqual({
      UpdateItem: 1,
    });
    expect(
      await callsFor(() => request(evicting.app).post('/streams/check').send({ userId, weight: 3 }).expect(200)),
    ).toEqual({ GetItem: 1 });
  });
});
