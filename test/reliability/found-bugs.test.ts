import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { startDynamoProxy, type DynamoProxy } from '../helpers/dynamo-proxy';
import { killAllServices } from '../helpers/service-process';
import { createTestApp, testEndpoint, uniqueId, type TestApp } from '../helpers/test-app';
import { sleep } from './helpers/http-client';
import { startInstances, waitReady } from './helpers/service-cluster';

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
