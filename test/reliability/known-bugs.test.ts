import request from 'supertest';
import { createTestApp, uniqueId, type TestApp } from '../helpers/test-app';

/*
 * Bugs the reliability suite found, each pinned by the smallest request that
 * shows it. These tests state the contract's behaviour, so they fail until
 * the service is fixed. Found by hostile-input.test.ts (valid adds with
 * hostile metadata).
 */

describe('known bugs found by the reliability suite', () => {
  let harness: TestApp;

  beforeAll(async () => {
    harness = await createTestApp({ STREAM_LIMIT: '3', RATE_LIMIT_PER_MINUTE: '0' });
  });

  afterAll(() => harness?.close());

  // BUG-1: the metadata key "constructor" matches the contract's key pattern, so the add is valid and must be
  // stored and listed back. The DynamoDB marshaller treats an object whose own `constructor` is a string as an
  // unsupported class instance and throws; LeaseStore's classifyFault turns that programming error into a 503
  // STORE_UNAVAILABLE, which invites the player to retry a request that can never succeed.
  it('BUG-1: admits a stream whose metadata has a key named "constructor" (today: 503 STORE_UNAVAILABLE on every try)', async () => {
    const userId = uniqueId('bug1');
    const body = { userId, streamId: 's1', metadata: { constructor: 'x', title: 'Big Buck Bunny' } };

    const first = await request(harness.app).post('/streams/add').send(body);
    const retry = await request(harness.app).post('/streams/add').send(body);
    const listed = await request(harness.app).get(`/users/${userId}/streams`);

    expect({ first: first.status, retry: retry.status }).toEqual({ first: 201, retry: 200 });
    expect(listed.body.streams).toEqual([expect.objectContaining({ streamId: 's1', metadata: { constructor: 'x', title: 'Big Buck Bunny' } })]);
  });

  // BUG-1b: same cause, with "toString" as well: building the marshaller's error message throws a TypeError,
  // which is also answered as a 503 rather than a 201 (or, for a real programming error, a 500 INTERNAL).
  it('BUG-1b: admits a stream whose metadata has keys "constructor" and "toString" (today: 503)', async () => {
    const userId = uniqueId('bug1b');
    const answer = await request(harness.app)
      .post('/streams/add')
      .send({ userId, streamId: 's1', metadata: { constructor: 'a', toString: 'b', valueOf: 'c' } });
    expect(answer.status).toBe(201);
  });
});
