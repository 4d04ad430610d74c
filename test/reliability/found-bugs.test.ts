import { randomUUID } from 'node:crypto';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import request from 'supertest';
import { startDynamoProxy, type DynamoProxy, type ProxiedRequest } from '../../support/dynamo-proxy';
import { killAllServices } from '../helpers/service-process';
import { createTestApp, testEndpoint, uniqueId, type TestApp } from '../helpers/test-app';
import { sleep } from './helpers/http-client';
import { startInstances, waitReady } from './helpers/service-cluster';
import { getRawItem, rawClient } from './helpers/table-check';

/*
 * Bugs the reliability suite found, each pinned by the smallest request that
 * shows it, kept as regression tests now that they are fixed (f03c217).
 */

jest.setTimeout(60_000);

describe('bugs found by the reliability suite (fixed; regression tests)', () => {
  let harness: TestApp;

  beforeAll(async () => {
    harness = await createTestApp({ STREAM_LIMIT: '3', RATE_LIMIT_PER_MINUTE: '0' });
  });

  afterAll(() => harness?.close());

  // BUG-1 (found by hostile-input.test.ts): the metadata key "constructor" matches the contract's key pattern,
  // so the add is valid and must be stored and listed back. The DynamoDB marshaller treated an object whose own
  // `constructor` is a string as an unsupported class instance and threw; LeaseStore's classifyFault turned that
  // programming error into a 503 STORE_UNAVAILABLE, inviting the player to retry a request that could never succeed.
  it('BUG-1: admits a stream whose metadata has a key named "constructor" (was: 503 STORE_UNAVAILABLE on every try)', async () => {
    const userId = uniqueId('bug1');
    const body = { userId, streamId: 's1', metadata: { constructor: 'x', title: 'Big Buck Bunny' } };

    const first = await request(harness.app).post('/streams/add').send(body);
    const retry = await request(harness.app).post('/streams/add').send(body);
    const listed = await request(harness.app).get(`/users/${userId}/streams`);

    expect({ first: first.status, retry: retry.status }).toEqual({ first: 201, retry: 200 });
    expect(listed.body.streams).toEqual([
      expect.objectContaining({ streamId: 's1', metadata: { constructor: 'x', title: 'Big Buck Bunny' } }),
    ]);
  });

  // BUG-1b: same cause, with "toString" as well: building the marshaller's error message threw a TypeError,
  // which was also answered as a 503 rather than a 201 (or, for a real programming error, a 500 INTERNAL).
  it('BUG-1b: admits a stream whose metadata has keys "constructor", "toString" and "valueOf" (was: 503)', async () => {
    const userId = uniqueId('bug1b');
    const answer = await request(harness.app)
      .post('/streams/add')
      .send({ userId, streamId: 's1', metadata: { constructor: 'a', toString: 'b', valueOf: 'c' } });
    expect(answer.status).toBe(201);
  });
});

describe('bugs found by the reliability suite: draining (fixed; regression test)', () => {
  let proxy: DynamoProxy | undefined;

  afterAll(async () => {
    killAllServices();
    await proxy?.close();
  });

  // BUG-2 (found by process-crash.test.ts): on SIGTERM, main.ts called server.close() and closeIdleConnections()
  // once. A connection whose request was in flight at that moment is not idle; its answer still said
  // "Connection: keep-alive" (the draining middleware only marks requests that arrive after the signal), so the
  // client keeps the connection and may send its next request on it; the server serves it and the connection
  // stays open until the force timer (DYNAMODB_TIMEOUT_MS + 1 s) calls closeAllConnections(). So every drain under
  // keep-alive load takes the whole bound, and a request sent on such a connection late in that window is cut
  // without an answer (seen: sent 3.2 s after SIGTERM with a 1.5 s store call, DYNAMODB_TIMEOUT_MS=3000:
  // "socket hang up" at 4.0 s).
  it('BUG-2: answers a request in flight at SIGTERM with Connection: close and exits once it is answered (was: keep-alive, exit after DYNAMODB_TIMEOUT_MS + 1 s)', async () => {
    proxy = await startDynamoProxy(testEndpoint());
    const [instance] = await startInstances(1, {
      DYNAMODB_ENDPOINT: proxy.endpoint,
      DYNAMODB_TABLE: `bug2-${randomUUID()}`,
      DYNAMODB_TIMEOUT_MS: '3000',
    });
    await waitReady(instance!);
    await proxy.setFault({ mode: 'delay', delayMs: 400 });

    const pending = instance!.client.post('/streams/add', { userId: uniqueId('bug2'), streamId: 's1' });
    await sleep(150);
    const signalled = performance.now();
    instance!.service.child.kill('SIGTERM');
    const answer = await pending;
    const answeredMs = performance.now() - signalled;
    const code = await instance!.service.exited;
    const exitMs = performance.now() - signalled;
    instance!.client.close();

    expect(answer.status).toBe(201);
    expect(code).toBe(0);
    expect({ connection: answer.headers.connection, exitedSoonAfterAnswer: exitMs - answeredMs < 1000 }).toEqual({
      connection: 'close',
      exitedSoonAfterAnswer: true,
    });
  });
});

type AddBody = { streamId: string; replaceStreamId?: string };

describe('bugs found by the reliability suite: a retried replace racing an add (fixed; regression test)', () => {
  let proxy: DynamoProxy | undefined;
  let harness: TestApp | undefined;
  let raw: DynamoDBClient | undefined;

  beforeAll(async () => {
    // The app talks to DynamoDB Local through the proxy, which can hold one chosen request; the test reads the
    // stored item around both, straight from DynamoDB Local.
    proxy = await startDynamoProxy(testEndpoint());
    harness = await createTestApp({ STREAM_LIMIT: '3' }, { endpoint: proxy.endpoint });
    raw = rawClient(testEndpoint());
  });

  afterAll(async () => {
    harness?.close();
    raw?.destroy();
    await proxy?.close();
  });

  // BUG-3 (found by model-based.test.ts, fixed in 83dcb9f): a replace {streamId: B, replaceStreamId: A} sent again
  // after it succeeded (B live, A ended as "replaced") fails its fast-replace write (A is not live), gets the item
  // back (ALL_OLD), and the rules decide "renewed"; the store then sends a renew-only UpdateItem for B. That write
  // had no guard on A, so when an add re-admitted A between the ALL_OLD answer and the renew write, the retried
  // replace answered 200 for a state in which A should have been ended: A stayed live next to B.
  // The interleaving is forced, not hoped for: the proxy holds the retried replace's renewal of B until the add of
  // A has been answered. Before the fix this test failed with: the retry answered activeStreams 2, the list showed
  // A and B, A's heartbeat answered 200 (not 410 replaced by B), and the item held two leases (cnt 2).
  it('BUG-3: a retried replace whose renewal races a re-add of the replaced stream still ends it (was: 200 with both streams live)', async () => {
    const app = harness!.app;
    const userId = uniqueId('bug3');
    const post = (path: string, body: object) => request(app).post(path).send(body);
    const add = (body: AddBody) => post('/streams/add', { userId, ...body });
    const heartbeat = (streamId: string) => post('/streams/heartbeat', { userId, streamId });

    // (1) A plays; (2) "stop A and watch B here" succeeds: B is live, A is remembered as replaced by B.
    expect((await add({ streamId: 'A' })).status).toBe(201);
    expect((await add({ streamId: 'B', replaceStreamId: 'A' })).status).toBe(201);

    // (3) The player sends the replace again (its first answer was lost, say). Held: this user's first UpdateItem
    // that writes B's lease and ends no stream, i.e. the renewal alone, whatever its condition says. The fast
    // replace before it writes the termination ring T, so it passes.
    const renewalOfB = proxy!.hold(({ operation, body }: ProxiedRequest) => {
      if (operation !== 'UpdateItem') return false;
      const input = JSON.parse(body) as {
        Key?: { userId?: { S?: string } };
        ExpressionAttributeNames?: Record<string, string>;
      };
      const names = Object.values(input.ExpressionAttributeNames ?? {});
      return input.Key?.userId?.S === userId && names.includes('L:B') && !names.includes('T');
    });
    proxy!.resetCounts();
    const retried = add({ streamId: 'B', replaceStreamId: 'A' }).then((answer) => answer);
    try {
      // No timer: either the renewal reaches the proxy, or the retry answers without one, which fails here at once.
      await Promise.race([
        renewalOfB.arrived,
        retried.then((answer) => {
          throw new Error(`the retried replace answered ${answer.status} without sending a renew-only write`);
        }),
      ]);
      // The held write is the retry's second call, right after its failed fast replace (no read in between).
      expect(proxy!.counts()).toEqual({ UpdateItem: 2 });

      // (4) Meanwhile another add re-admits A (its termination is forgotten, as for any new add of that id).
      expect((await add({ streamId: 'A' })).status).toBe(201);
    } finally {
      // (5) The renewal reaches DynamoDB only now, after A is live again.
      renewalOfB.release();
      await retried.catch(() => undefined);
    }
    const answer = await retried;

    // (6) The retry renews B (200, as for any retried add) and, since A is live again, ends it: the user asked to
    // stop A (README, "A replace whose new stream is already live").
    const listed = await request(app).get(`/users/${userId}/streams`);
    const heartbeatA = await heartbeat('A');
    const heartbeatB = await heartbeat('B');
    const item = await getRawItem(raw!, harness!.table, userId);
    expect({
      retried: { status: answer.status, streamId: answer.body.streamId, activeStreams: answer.body.activeStreams },
      listed: {
        activeStreams: listed.body.activeStreams,
        streams: (listed.body.streams as { streamId: string }[]).map((s) => s.streamId),
      },
      heartbeatA: { status: heartbeatA.status, reason: heartbeatA.body.reason, replacedBy: heartbeatA.body.replacedBy },
      heartbeatB: heartbeatB.status,
      stored: { cnt: item?.cnt, leases: Object.keys(item ?? {}).filter((name) => name.startsWith('L:')) },
    }).toEqual({
      retried: { status: 200, streamId: 'B', activeStreams: 1 },
      listed: { activeStreams: 1, streams: ['B'] },
      heartbeatA: { status: 410, reason: 'replaced', replacedBy: { streamId: 'B' } },
      heartbeatB: 200,
      stored: { cnt: 1, leases: ['L:B'] },
    });
  });
});

describe('bugs found by the reliability suite: STORE_FAILURE_MODE=open (fixed; regression test)', () => {
  let proxy: DynamoProxy | undefined;
  let harness: TestApp | undefined;

  beforeAll(async () => {
    proxy = await startDynamoProxy(testEndpoint());
    harness = await createTestApp({ STREAM_LIMIT: '1', STORE_FAILURE_MODE: 'open' }, { endpoint: proxy.endpoint });
  });

  afterAll(async () => {
    await proxy?.setFault({ mode: 'pass' });
    harness?.close();
    await proxy?.close();
  });

  // BUG-4 (found while designing the open-mode fault test, store-faults-open.test.ts, by reading the store's refusal path): a stream whose display data (deviceId + metadata) is over
  // 64 bytes keeps it in a display item, read back with a BatchGetItem when an answer names the stream. After the
  // user's item had decided (the add's conditional write failed: the user is full; the heartbeat's write failed: the
  // stream was replaced), that read failing made the whole request a store fault, and open mode answered it as a
  // degraded admission: 201 degraded for a full user's add, 200 degraded for a replaced stream's heartbeat. A refusal
  // the store gave while it answered was hidden (and in closed mode the player got a 503 for a decided request).
  it('BUG-4: a full user stays refused and a replaced stream stays terminated when only the display read fails (was: 201 / 200 degraded)', async () => {
    const app = harness!.app;
    const userId = uniqueId('bug4');
    const deviceId = `living-room-television-${'x'.repeat(60)}`;
    expect((await request(app).post('/streams/add').send({ userId, streamId: 'A', deviceId })).status).toBe(201);
    expect(
      (await request(app).post('/streams/add').send({ userId, streamId: 'B', deviceId, replaceStreamId: 'A' })).status,
    ).toBe(201);

    // Only the display reads fail: every write and read of the user's item reaches DynamoDB.
    await proxy!.setFault({ mode: 'throttle', operations: ['BatchGetItem'] });
    const add = await request(app).post('/streams/add').send({ userId, streamId: 'C' });
    const heartbeat = await request(app).post('/streams/heartbeat').send({ userId, streamId: 'A' });
    await proxy!.setFault({ mode: 'pass' });

    expect({
      add: {
        status: add.status,
        code: add.body.code,
        streams: (add.body.streams as { streamId: string }[])?.map((s) => s.streamId),
      },
      heartbeat: { status: heartbeat.status, reason: heartbeat.body.reason, by: heartbeat.body.replacedBy?.streamId },
    }).toEqual({
      add: { status: 409, code: 'STREAM_LIMIT_REACHED', streams: ['B'] },
      heartbeat: { status: 410, reason: 'replaced', by: 'B' },
    });
    // With the store whole again the display data is back in the answers.
    const again = await request(app).post('/streams/add').send({ userId, streamId: 'C' });
    expect({ status: again.status, deviceId: again.body.streams?.[0]?.deviceId }).toEqual({ status: 409, deviceId });
  });
});

describe('bugs found by the reliability suite: items written before weights (open; pinned)', () => {
  let harness: TestApp | undefined;
  let raw: DynamoDBClient | undefined;

  beforeAll(async () => {
    harness = await createTestApp({ STREAM_LIMIT: '1' });
    raw = rawClient(testEndpoint());
  });

  afterAll(() => {
    harness?.close();
    raw?.destroy();
  });

  // BUG-5 (found while teaching table-check.ts the new item layout, fixed in the store): the one-write add read a
  // missing `sl` as "no item yet, a new user". An item written by the previous release has cnt and leases without
  // w, and no sl or z, so the first add after the upgrade was admitted with no limit check: here a user at its limit
  // of 1 got a second stream. The same held for a weight-0 add (missing z), and PUT /users/{id}/limit on such an item
  // initialised sl to 0 under live leases. Now such an item takes the rules' path, which writes sl and z.
  it('BUG-5: a user stored in the previous item layout stays within its limit after the upgrade', async () => {
    const userId = uniqueId('bug5');
    const now = harness!.clock.now();
    await raw!.send(
      new PutItemCommand({
        TableName: harness!.table,
        // The previous release's layout (src/store/table.ts before weights): no sl, z, nor w.
        Item: {
          userId: { S: userId },
          ver: { N: '1' },
          cnt: { N: '1' },
          gcAt: { N: String(Math.ceil(now / 1000) + 7200) },
          'L:old': { M: { s: { N: String(now) }, e: { N: String(now + 60_000) } } },
          T: { L: Array.from({ length: 8 }, () => ({ M: {} })) },
        },
      }),
    );
    const add = await request(harness!.app).post('/streams/add').send({ userId, streamId: 'new' });
    expect({ status: add.status, code: add.body.code }).toEqual({ status: 409, code: 'STREAM_LIMIT_REACHED' });
  });
});
