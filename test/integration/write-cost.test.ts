import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createMetrics, type Metrics } from '../../src/metrics';
import type { StoreCallReport } from '../../src/store/lease-store';
import { rawItem } from '../helpers/raw-item';
import { createTestApp, uniqueId, type TestApp } from '../helpers/test-app';

/*
 * The contract's write cost, measured by DynamoDB itself (ReturnConsumedCapacity on every write),
 * not estimated: a heartbeat, remove or refused add of a user at the default limit costs at most
 * 2 write units for any valid input, and a typical user's costs 1.
 */
let t: TestApp;
const calls: StoreCallReport[] = [];

beforeAll(async () => {
  t = await createTestApp({}, { deps: { metrics: recordingMetrics() } });
});
afterAll(() => t.close());

/** The app's real metrics, with every store call also recorded here. */
function recordingMetrics(): Metrics {
  const metrics = createMetrics();
  return { ...metrics, onStoreCall: (call) => (calls.push(call), metrics.onStoreCall(call)) };
}

/** Write units of the UpdateItem calls `action` made (PutItem of display items listed apart). */
async function unitsOf(action: () => Promise<unknown>): Promise<{ update: number[]; put: number[] }> {
  calls.length = 0;
  await action();
  const units = (operation: string) => calls.filter((c) => c.operation === operation).map((c) => c.writeUnits ?? 0);
  return { update: units('UpdateItem'), put: units('PutItem') };
}

const post = (path: string, body: object) => request(t.app).post(path).send(body);
const id = (prefix: string, length: number) =>
  `${prefix}${'x'.repeat(length - prefix.length - 4)}${randomUUID().slice(0, 4)}`;

/** Every field at its largest valid size: 2,048 bytes of four-byte characters and keys. */
function worstMetadata(): Record<string, string> {
  const metadata: Record<string, string> = {};
  let bytes = 0;
  for (let i = 0; i < 10; i++) {
    const key = `k${i}${'k'.repeat(62)}`;
    const room = Math.min(256 * 4, 2048 - bytes - key.length);
    if (room < 4) break;
    metadata[key] = '😀'.repeat(Math.floor(room / 4));
    bytes += key.length + Buffer.byteLength(metadata[key]!);
  }
  return metadata;
}

/** The largest display data that still rides inline in the user's item: 64 bytes over ten entries. */
function largestInline(): { deviceId: string; metadata: Record<string, string> } {
  return {
    deviceId: 'D'.repeat(14),
    metadata: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`${i}`, 'v'.repeat(4)])),
  };
}

it.each([
  ['kept out of the item', () => ({ deviceId: id('D', 128), metadata: worstMetadata() })],
  ['inline at its largest', largestInline],
])(
  'keeps the worst valid user at 2 write units per heartbeat, remove and refused add (display data %s)',
  async (_, display) => {
    const userId = id('W', 128);
    const worst = (streamId: string, extra: object = {}) => ({ userId, streamId, ...display(), ...extra });
    const live = [id('a', 64), id('b', 64), id('c', 64)];
    for (const streamId of live) await post('/streams/add', worst(streamId)).expect(201);
    // Twelve replaces and four removes within one lease: more terminations than the item remembers.
    for (let i = 0; i < 12; i++) {
      const next = id(`r${i}`, 64);
      await post('/streams/add', worst(next, { replaceStreamId: live.shift() })).expect(201);
      live.push(next);
    }
    for (let i = 0; i < 4; i++) {
      await post('/streams/remove', { userId, streamId: live.shift() }).expect(200);
      const next = id(`n${i}`, 64);
      await post('/streams/add', worst(next)).expect(201);
      live.push(next);
    }

    for (const streamId of live) {
      const { update } = await unitsOf(() => post('/streams/heartbeat', { userId, streamId }).expect(200));
      expect(update).toEqual([expect.any(Number)]);
      expect(update[0]).toBeLessThanOrEqual(2);
    }
    const item = await rawItem(t.table, userId);
    expect((item?.T as { i?: string }[]).filter((slot) => slot.i !== undefined)).toHaveLength(8);
    const listed = await request(t.app).get(`/users/${userId}/streams`).expect(200);
    expect(listed.body.streams.map((s: { metadata?: object }) => s.metadata)).toEqual(
      [1, 2, 3].map(() => display().metadata),
    );

    const refused = await post('/streams/add', worst(id('z', 64))).expect(409);
    expect(refused.body.streams[0]).toMatchObject({
      deviceId: expect.stringMatching(/^D/),
      metadata: display().metadata,
    });
    // With the ring full, a remove is still one write: it drops the oldest termination itself.
    const removed = await unitsOf(() => post('/streams/remove', { userId, streamId: live[0] }).expect(200));
    expect(removed.update).toEqual([expect.any(Number)]);
    expect(removed.update[0]).toBeLessThanOrEqual(2);
  },
  30_000,
);

it('keeps a typical user at 1 write unit per heartbeat and remove, and one call per add', async () => {
  const userId = randomUUID();
  const typical = () => ({
    userId,
    streamId: randomUUID(),
    deviceId: 'living-room-tv',
    metadata: { title: 'Big Buck Bunny' },
  });
  const streams = [typical(), typical(), typical()];
  for (const body of streams) {
    const { update, put } = await unitsOf(() => post('/streams/add', body).expect(201));
    expect({ update: update.length, put: put.length }).toEqual({ update: 1, put: 0 });
  }
  // A couple of stops and starts within the lease, as a household does.
  for (let i = 0; i < 3; i++) {
    await post('/streams/remove', { userId, streamId: streams[0]!.streamId }).expect(200);
    streams[0] = typical();
    await post('/streams/add', streams[0]).expect(201);
  }
  for (const { streamId } of streams) {
    expect((await unitsOf(() => post('/streams/heartbeat', { userId, streamId }).expect(200))).update).toEqual([1]);
  }
  expect(
    (await unitsOf(() => post('/streams/remove', { userId, streamId: streams[1]!.streamId }).expect(200))).update,
  ).toEqual([1]);
});

it('lists display data kept out of the item, and ignores a stale display item of an earlier stream of that id', async () => {
  const userId = uniqueId();
  const big = { title: 'é'.repeat(200) };
  await post('/streams/add', { userId, streamId: 's1', deviceId: 'tv', metadata: big }).expect(201);
  const item = await rawItem(t.table, userId);
  expect(item?.['L:s1']).toEqual({ s: expect.any(Number), e: expect.any(Number), w: 1, x: expect.any(String) });
  await post('/streams/remove', { userId, streamId: 's1' }).expect(200);
  // The same id again, with small display data: inline, and the old display item must not show.
  await post('/streams/add', { userId, streamId: 's1', deviceId: 'phone' }).expect(201);
  const listed = await request(t.app).get(`/users/${userId}/streams`).expect(200);
  expect(listed.body.streams).toEqual([expect.objectContaining({ streamId: 's1', deviceId: 'phone' })]);
  expect(listed.body.streams[0].metadata).toBeUndefined();
});

it("names the replacing stream's device in a 410 even when its display data is out of the item", async () => {
  const userId = uniqueId();
  await post('/streams/add', { userId, streamId: 'old' }).expect(201);
  await post('/streams/add', {
    userId,
    streamId: 'new',
    replaceStreamId: 'old',
    deviceId: 'tv-x',
    metadata: { title: 'é'.repeat(200) },
  }).expect(201);
  const res = await post('/streams/heartbeat', { userId, streamId: 'old' }).expect(410);
  expect(res.body).toMatchObject({ reason: 'replaced', replacedBy: { streamId: 'new', deviceId: 'tv-x' } });
});

it('answers a retried add of out-of-line display data 200 and keeps the first display data', async () => {
  const userId = uniqueId();
  const body = { userId, streamId: 's', deviceId: 'tv', metadata: { title: 'a'.repeat(100) } };
  await post('/streams/add', body).expect(201);
  await post('/streams/add', { ...body, deviceId: 'other', metadata: { title: 'b'.repeat(100) } }).expect(200);
  const listed = await request(t.app).get(`/users/${userId}/streams`).expect(200);
  expect(listed.body.streams).toEqual([
    expect.objectContaining({ streamId: 's', deviceId: 'tv', metadata: body.metadata }),
  ]);
});
