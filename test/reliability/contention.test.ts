import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTestApp, TestClock, uniqueId, type TestApp } from '../helpers/test-app';
import { HttpClient, type Answer } from './helpers/http-client';
import { recordSection, Tally } from './helpers/results';
import { listedStreams } from './helpers/service-cluster';

/*
 * Bursts on one user from three instances at the same instant: the cases
 * where conditional writes race hardest. Whatever the interleaving, exactly
 * `limit` distinct streams get in, a retried streamId takes one slot, a
 * counter-style remove storm releases each lease once, and a replace storm
 * ends the replaced stream once without raising the count.
 */

jest.setTimeout(300_000);

const LIMIT = 3;
const BURST = Number(process.env.RELIABILITY_BURST ?? 24);
const ROUNDS = Number(process.env.RELIABILITY_CONTENTION_ROUNDS ?? 10);

describe('contention: bursts on one user from three instances', () => {
  const clock = new TestClock();
  const apps: TestApp[] = [];
  const servers: Server[] = [];
  const clients: HttpClient[] = [];
  const started = performance.now();
  const outcomes = new Tally();
  let requests = 0;

  beforeAll(async () => {
    const env = {
      STREAM_LIMIT: String(LIMIT),
      LEASE_SECONDS: '60',
      RATE_LIMIT_PER_MINUTE: '0',
      DYNAMODB_TIMEOUT_MS: '5000',
    };
    const first = await createTestApp(env, { deps: { clock: clock.now } });
    apps.push(first);
    for (let i = 1; i < 3; i++) apps.push(await createTestApp(env, { table: first.table, deps: { clock: clock.now } }));
    for (const instance of apps) {
      const server = instance.app.listen(0, '127.0.0.1');
      // As main.ts does: idle keep-alive connections outlive the client's, so a reused socket is never one the server just closed.
      server.keepAliveTimeout = 65_000;
      await new Promise<void>((resolve) => server.once('listening', () => resolve()));
      servers.push(server);
      clients.push(new HttpClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { maxSockets: BURST }));
    }
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    for (const instance of apps) instance.close();
    await recordSection('contention', {
      title: `Contention bursts (${BURST} requests at once on one user, 3 instances, ${ROUNDS} rounds each)`,
      finishedAt: new Date().toISOString(),
      seconds: (performance.now() - started) / 1000,
      figures: [
        ['requests', requests],
        ['answers', outcomes.toString()],
      ],
      facts: facts,
    });
  });

  const facts: string[] = [];

  const burst = async (label: string, make: (i: number) => Promise<Answer>): Promise<Answer[]> => {
    const answers = await Promise.all(Array.from({ length: BURST }, (_, i) => make(i)));
    requests += answers.length;
    for (const answer of answers) outcomes.add(`${label} ${answer.status}`);
    return answers;
  };
  const via = (i: number) => clients[i % clients.length]!;
  const count = (answers: Answer[], status: number) => answers.filter((a) => a.status === status).length;

  it(`${BURST} adds of distinct streams at once: exactly ${LIMIT} admitted, the rest 409, ${LIMIT} stored`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const userId = uniqueId('burst-distinct');
      const answers = await burst('distinct adds', (i) => via(i).post('/streams/add', { userId, streamId: `s${i}` }));
      expect({ round, 201: count(answers, 201), 409: count(answers, 409) }).toEqual({
        round,
        201: LIMIT,
        409: BURST - LIMIT,
      });
      const admitted = answers
        .filter((a) => a.status === 201)
        .map((a) => (a.json as { streamId: string }).streamId)
        .sort();
      expect((await listedStreams(via(round), userId)).sort()).toEqual(admitted);
    }
    facts.push(
      `${ROUNDS} bursts of ${BURST} distinct adds: exactly ${LIMIT} admitted each time, the rest 409, and exactly those ${LIMIT} stored`,
    );
  });

  it(`${BURST} retries of one streamId at once: one 201, the rest 200, one slot`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const userId = uniqueId('burst-retry');
      const answers = await burst('same-stream adds', (i) => via(i).post('/streams/add', { userId, streamId: 'tv' }));
      expect({ round, 201: count(answers, 201), 200: count(answers, 200) }).toEqual({ round, 201: 1, 200: BURST - 1 });
      expect(await listedStreams(via(round), userId)).toEqual(['tv']);
    }
    facts.push(`${ROUNDS} bursts of ${BURST} identical adds: one 201 and ${BURST - 1} x 200 each time, one slot taken`);
  });

  it(`${BURST} counter-style removes at once on ${LIMIT} streams: each lease released once, none left`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const userId = uniqueId('burst-remove');
      for (let s = 0; s < LIMIT; s++)
        expect((await via(s).post('/streams/add', { userId, streamId: `s${s}` })).status).toBe(201);
      const answers = await burst('counter removes', (i) => via(i).post('/streams/remove', { userId }));
      const removed = answers
        .filter((a) => (a.json as { removed?: boolean }).removed === true)
        .map((a) => (a.json as { streamId: string }).streamId);
      expect({ round, statuses: count(answers, 200), removed: removed.sort() }).toEqual({
        round,
        statuses: BURST,
        removed: ['s0', 's1', 's2'],
      });
      expect(await listedStreams(via(round), userId)).toEqual([]);
    }
    facts.push(
      `${ROUNDS} bursts of ${BURST} counter-style removes on ${LIMIT} live streams: each released exactly once, the rest removed:false`,
    );
  });

  it(`${BURST} replaces of the same stream at once: one replaces it, the others find it gone and are refused at the limit`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const userId = uniqueId('burst-replace');
      for (let s = 0; s < LIMIT; s++)
        expect((await via(s).post('/streams/add', { userId, streamId: `s${s}` })).status).toBe(201);
      const answers = await burst('replaces of s0', (i) =>
        via(i).post('/streams/add', { userId, streamId: `n${i}`, replaceStreamId: 's0' }),
      );
      expect({ round, 201: count(answers, 201), 409: count(answers, 409) }).toEqual({ round, 201: 1, 409: BURST - 1 });
      const winner = (answers.find((a) => a.status === 201)!.json as { streamId: string }).streamId;
      expect((await listedStreams(via(round), userId)).sort()).toEqual([winner, 's1', 's2'].sort());
      const heartbeat = await via(round).post('/streams/heartbeat', { userId, streamId: 's0' });
      expect({
        status: heartbeat.status,
        replacedBy: (heartbeat.json as { replacedBy?: { streamId: string } }).replacedBy?.streamId,
      }).toEqual({
        status: 410,
        replacedBy: winner,
      });
    }
    facts.push(
      `${ROUNDS} bursts of ${BURST} replaces of one stream: exactly one won, the others were refused at the limit, the count stayed ${LIMIT}, and the replaced stream's heartbeat named the winner`,
    );
  });

  it(`${BURST} heartbeats and removes of the same stream at once: it ends once, and no heartbeat renews it after its removal`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const userId = uniqueId('burst-mixed');
      expect((await via(0).post('/streams/add', { userId, streamId: 'tv' })).status).toBe(201);
      const answers = await burst('heartbeat/remove mix', (i) =>
        i % 2 === 0
          ? via(i).post('/streams/heartbeat', { userId, streamId: 'tv' })
          : via(i).post('/streams/remove', { userId, streamId: 'tv' }),
      );
      const removes = answers.filter((_, i) => i % 2 === 1);
      const heartbeats = answers.filter((_, i) => i % 2 === 0);
      expect(removes.filter((a) => (a.json as { removed?: boolean }).removed === true)).toHaveLength(1);
      expect(heartbeats.every((a) => a.status === 200 || a.status === 410)).toBe(true);
      expect(await listedStreams(via(round), userId)).toEqual([]);
    }
    facts.push(
      `${ROUNDS} bursts of ${BURST / 2} heartbeats racing ${BURST / 2} removes of one stream: removed exactly once, every heartbeat 200 (before) or 410 (after), nothing left live`,
    );
  });
});
