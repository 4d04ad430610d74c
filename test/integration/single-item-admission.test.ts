import request from 'supertest';
import { startDynamoProxy, type DynamoProxy, type ProxiedRequest } from '../../support/dynamo-proxy';
import { createTestApp, testEndpoint, uniqueId, type TestApp } from '../helpers/test-app';

/*
 * The property docs/multi-region.md relies on: every admission decision, under every policy and
 * weight, is made by one conditional write to one user's item. No transaction, no batch write, no
 * write to another user's item; a read may come first, but the write that decides is conditioned
 * on what it read (the version) or on the item's own counters. Checked on the wire, at the proxy.
 */
let proxy: DynamoProxy;
const seen: ProxiedRequest[] = [];

beforeAll(async () => {
  proxy = await startDynamoProxy(testEndpoint());
  // A hold whose predicate never matches records every request and holds none.
  proxy.hold((proxied) => {
    seen.push(proxied);
    return false;
  });
});
afterAll(() => proxy.close());

interface WriteBody {
  Key?: { userId?: { S?: string } };
  Item?: { userId?: { S?: string } };
  ConditionExpression?: string;
}

async function writesOf(action: () => Promise<unknown>): Promise<Array<{ operation: string; body: WriteBody }>> {
  seen.length = 0;
  await action();
  return seen.map(({ operation, body }) => ({ operation, body: JSON.parse(body) as WriteBody }));
}

describe.each([
  ['block-new', {}],
  ['evict-oldest', { STREAM_POLICY: 'evict-oldest' }],
  ['evict-oldest with adaptive leases', { STREAM_POLICY: 'evict-oldest', LEASE_MAX_SECONDS: '300' }],
])('under %s', (_name, env) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(env, { endpoint: proxy.endpoint });
  });
  afterAll(() => t.close());

  it("decides every add, replace and eviction by conditional writes to that user's item alone, never a transaction", async () => {
    const userId = uniqueId();
    const adds = [
      { userId, streamId: 'a', deviceId: 'tv' },
      { userId, streamId: 'b', weight: 2 },
      { userId, streamId: 'c', weight: 0 },
      { userId, streamId: 'd' }, // full: refused, or evicts the oldest
      { userId, streamId: 'e', replaceStreamId: 'b', metadata: { title: 'x'.repeat(100) } },
      { userId, streamId: 'e', replaceStreamId: 'b' }, // a retried replace
      { userId, streamId: 'big', weight: 5 },
    ];
    for (const body of adds) {
      let status = 0;
      const writes = await writesOf(
        async () => (status = (await request(t.app).post('/streams/add').send(body)).status),
      );
      const operations = writes.map((write) => write.operation);
      expect(
        operations.every((operation) => ['UpdateItem', 'GetItem', 'PutItem', 'BatchGetItem'].includes(operation)),
      ).toBe(true);
      const decisions = writes.filter((write) => write.operation === 'UpdateItem');
      // An admission is written; a refusal may be decided from a read alone (a stream heavier than the limit).
      if (status !== 409) expect(decisions.length).toBeGreaterThanOrEqual(1);
      expect(decisions.length + writes.filter((write) => write.operation === 'GetItem').length).toBeGreaterThanOrEqual(
        1,
      );
      for (const { body: update } of decisions) {
        expect(update.Key).toEqual({ userId: { S: userId } });
        expect(update.ConditionExpression).toEqual(expect.any(String));
      }
      // The only other write is the display item of an admitted stream, keyed apart from every user.
      for (const { body: put } of writes.filter((write) => write.operation === 'PutItem')) {
        expect(put.Item?.userId?.S).toBe(`${userId}#${body.streamId}`);
      }
    }
  });
});
