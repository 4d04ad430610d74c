import { randomUUID } from 'node:crypto';
import { killAllServices, startService, type ServiceProcess } from '../helpers/service-process';
import { testEndpoint, uniqueId } from '../helpers/test-app';

/*
 * Three real service processes share one table and nothing else. Admission
 * must hold across them: the only coordination is DynamoDB's conditional write.
 */
let instances: ServiceProcess[];

beforeAll(async () => {
  const env = {
    DYNAMODB_ENDPOINT: testEndpoint(),
    DYNAMODB_TABLE: `e2e-${randomUUID()}`,
    STREAM_LIMIT: '3',
    // Generous: this is about decisions, and DynamoDB Local is slow under a 200-request burst on 2 cores.
    DYNAMODB_TIMEOUT_MS: '20000',
    RATE_LIMIT_PER_MINUTE: '0',
  };
  // The first creates the table; the others find it.
  instances = [await startService(env)];
  instances.push(...(await Promise.all([startService(env), startService(env)])));
  for (const instance of instances) {
    for (let i = 0; i < 100 && (await fetch(`${instance.url}/readyz`)).status !== 200; i++)
      await new Promise((r) => setTimeout(r, 100));
  }
});

afterAll(async () => {
  await Promise.all(instances.map((instance) => instance.stop()));
  killAllServices();
});

async function post(url: string, body: object): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

it('admits exactly STREAM_LIMIT of 200 concurrent adds for one user spread over 3 instances', async () => {
  const userId = uniqueId();
  const answers = await Promise.all(
    Array.from({ length: 200 }, (_, i) => post(`${instances[i % 3]!.url}/streams/add`, { userId, streamId: `s-${i}` })),
  );
  const byStatus = answers.reduce<Record<number, number>>(
    (acc, a) => ({ ...acc, [a.status]: (acc[a.status] ?? 0) + 1 }),
    {},
  );
  expect(byStatus).toEqual({ 201: 3, 409: 197 });
  const listed = await fetch(`${instances[1]!.url}/users/${userId}/streams`).then(
    (r) => r.json() as Promise<{ activeStreams: number; streams: Array<{ streamId: string }> }>,
  );
  expect(listed.activeStreams).toBe(3);
  const admitted = answers
    .filter((a) => a.status === 201)
    .map((a) => a.body.streamId)
    .sort();
  expect(listed.streams.map((s) => s.streamId).sort()).toEqual(admitted);
});

it('takes one slot for 50 concurrent retries of one (userId, streamId) across instances', async () => {
  const userId = uniqueId();
  const answers = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      post(`${instances[i % 3]!.url}/streams/add`, { userId, streamId: 'retry-me' }),
    ),
  );
  expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
  expect(answers.filter((a) => a.status === 200)).toHaveLength(49);
  const listed = await fetch(`${instances[2]!.url}/users/${userId}/streams`).then(
    (r) => r.json() as Promise<{ activeStreams: number }>,
  );
  expect(listed.activeStreams).toBe(1);
});

it('lets exactly one of many concurrent replaces of the same stream win, across instances', async () => {
  const userId = uniqueId();
  for (const streamId of ['a', 'b', 'c'])
    expect((await post(`${instances[0]!.url}/streams/add`, { userId, streamId })).status).toBe(201);
  const answers = await Promise.all(
    Array.from({ length: 30 }, (_, i) =>
      post(`${instances[i % 3]!.url}/streams/add`, { userId, streamId: `new-${i}`, replaceStreamId: 'a' }),
    ),
  );
  // One replace wins; the rest find "a" gone, fall back to a plain add, and meet a full house.
  expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
  expect(answers.filter((a) => a.status === 409)).toHaveLength(29);
  const listed = await fetch(`${instances[0]!.url}/users/${userId}/streams`).then(
    (r) => r.json() as Promise<{ activeStreams: number }>,
  );
  expect(listed.activeStreams).toBe(3);
});
