import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { startDynamoProxy, type DynamoProxy } from '../../support/dynamo-proxy';
import { killAllServices } from '../helpers/service-process';
import { testEndpoint, uniqueId } from '../helpers/test-app';
import { sleep, type Answer } from './helpers/http-client';
import { recordSection, Tally } from './helpers/results';
import { isStoreUnavailable, startInstances, waitReady, type Instance } from './helpers/service-cluster';
import { getRawItem, itemProblems, liveLeasesOf, liveSlotsOf, rawClient, ringOf } from './helpers/table-check';

/*
 * 100 adds at once on one user, spread over three service processes on one table, per admission
 * policy and with weights. While each race runs, the user's item is read straight from DynamoDB Local
 * (past the service) again and again: never more than `limit` slots in use, never more than 10
 * weight-0 streams, counters always equal to the stored leases. Under evict-oldest no stream is named
 * in two adds' `evicted`, the evicted streams and the live ones are exactly the admitted ones, and the
 * evicted streams' heartbeats answer 410 evicted naming the add that ended them. DynamoDB calls are
 * counted per operation at the proxy in front of DynamoDB Local.
 * Each racer sends its add once. A 503 STORE_UNAVAILABLE (a store call over DYNAMODB_TIMEOUT_MS on this
 * busy machine, or a read-modify-write that lost all its rounds to the other racers) is allowed and
 * counted; since such an add may still have been applied (its answer lost), the checks allow for it
 * exactly there, and nowhere else.
 */

jest.setTimeout(300_000);

const LIMIT = 3;
const RACERS = Number(process.env.RELIABILITY_RACERS ?? 100);
const MAX_WEIGHTLESS = 10;
/** The contract's "remembers at least the 8 most recent terminations". */
const REMEMBERED = 8;

type Body = Record<string, unknown>;
const bodyOf = (answer: Answer) => (answer.json ?? {}) as Body;
const evictedBy = (answer: Answer) =>
  ((bodyOf(answer).evicted ?? []) as Array<{ streamId: string }>).map((victim) => victim.streamId);

describe('policy races: 100 adds at once on one user from three instances', () => {
  let instances: Instance[] = [];
  let proxy: DynamoProxy;
  let raw: DynamoDBClient;
  const table = `races-${randomUUID()}`;
  const started = performance.now();
  const outcomes = new Tally();
  const figures: Array<[string, string | number]> = [];
  const facts: string[] = [];
  let requests = 0;
  let samples = 0;

  beforeAll(async () => {
    proxy = await startDynamoProxy(testEndpoint());
    raw = rawClient(testEndpoint());
    // The services talk to DynamoDB through the proxy (counted); the test's own reads go around it.
    instances = await startInstances(3, {
      STREAM_LIMIT: String(LIMIT),
      LEASE_SECONDS: '300',
      DYNAMODB_ENDPOINT: proxy.endpoint,
      DYNAMODB_TABLE: table,
      DYNAMODB_TIMEOUT_MS: '5000',
    });
    for (const instance of instances) await waitReady(instance, 60_000);
  });

  afterAll(async () => {
    for (const instance of instances) instance.client.close();
    await Promise.all(instances.map((instance) => instance.service.stop('SIGKILL')));
    killAllServices();
    await proxy?.close();
    raw?.destroy();
    await recordSection('policy-races', {
      title: `Policy races (${RACERS} adds at once on one user, 3 service processes, limit ${LIMIT})`,
      finishedAt: new Date().toISOString(),
      seconds: (performance.now() - started) / 1000,
      figures: [
        ['requests', requests],
        ['answers', outcomes.toString()],
        ['raw item reads during the races (each checked)', samples],
        ...figures,
      ],
      facts,
    });
  });

  const via = (i: number) => instances[i % instances.length]!.client;
  const now = () => Date.now();

  const add = async (i: number, label: string, body: Record<string, unknown>): Promise<Answer> => {
    const answer = await via(i).post('/streams/add', body, 60_000);
    requests++;
    outcomes.add(`${label} ${answer.status}${evictedBy(answer).length > 0 ? ' evicting' : ''}`);
    if (answer.status >= 500 && !isStoreUnavailable(answer))
      throw new Error(`${label}: ${answer.status} ${answer.text}`);
    return answer;
  };

  /** A few requests per instance first, so the first race does not measure cold connections. */
  const warm = async () => {
    const userId = uniqueId('warm');
    for (let i = 0; i < 9; i++) await via(i).post('/streams/heartbeat', { userId, streamId: 'w' });
  };

  const setPolicy = async (userId: string, policy: 'block-new' | 'evict-oldest') => {
    const answer = await via(0).request({
      method: 'PUT',
      path: `/users/${encodeURIComponent(userId)}/limit`,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ policy }),
    });
    expect({ status: answer.status, policy: bodyOf(answer).policy }).toEqual({ status: 200, policy });
  };

  const prefill = async (userId: string, count: number) => {
    for (let i = 0; i < count; i++)
      expect((await via(i).post('/streams/add', { userId, streamId: `p${i}` })).status).toBe(201);
    // The racers start strictly later, so the prefilled streams are the oldest.
    await sleep(5);
  };

  /**
   * Runs `make` for every racer at once while reading the user's item past the service until all have
   * answered; every read must hold at most LIMIT live slots, at most 10 weight-0 streams and valid counters.
   */
  const race = async (label: string, userId: string, body: (i: number) => Record<string, unknown>) => {
    let running = true;
    const problems: string[] = [];
    let maxSlots = 0;
    let reads = 0;
    const sampler = (async () => {
      while (running) {
        const item = await getRawItem(raw, table, userId);
        reads++;
        if (!item) continue;
        const at = now();
        const slots = liveSlotsOf(item, at);
        const weightless = [...liveLeasesOf(item, at).values()].filter((lease) => lease.w === 0).length;
        maxSlots = Math.max(maxSlots, slots);
        if (slots > LIMIT) problems.push(`${slots} live slots stored`);
        if (weightless > MAX_WEIGHTLESS) problems.push(`${weightless} live weight-0 streams stored`);
        problems.push(...itemProblems(item));
      }
    })();
    proxy.resetCounts();
    let answers: Answer[];
    try {
      answers = await Promise.all(Array.from({ length: RACERS }, (_, i) => add(i, label, { userId, ...body(i) })));
    } finally {
      running = false;
      await sampler;
    }
    const calls = proxy.counts();
    samples += reads;
    expect({ label, problems: [...new Set(problems)] }).toEqual({ label, problems: [] });
    const final = await getRawItem(raw, table, userId);
    expect(itemProblems(final!)).toEqual([]);
    figures.push([
      `${label}: DynamoDB calls per racer`,
      `${Object.entries(calls)
        .sort()
        .map(([operation, n]) => `${operation} ${(n / RACERS).toFixed(2)}`)
        .join(', ')}; ${reads} raw reads during the race, most live slots seen ${maxSlots}`,
    ]);
    const unavailable = answers.flatMap((a, i) => (isStoreUnavailable(a) ? [i] : []));
    return { answers, final: final!, live: liveLeasesOf(final, now()), unavailable };
  };

  const count = (answers: Answer[], status: number) => answers.filter((a) => a.status === status).length;

  it(`block-new: ${RACERS} distinct adds at once: exactly ${LIMIT} admitted, the rest 409, never more than ${LIMIT} slots stored`, async () => {
    await warm();
    const userId = uniqueId('race-block');
    const { answers, live, unavailable } = await race('block-new, weight 1', userId, (i) => ({ streamId: `s${i}` }));
    const admitted = answers.flatMap((a, i) => (a.status === 201 ? [`s${i}`] : []));
    expect({ others: answers.filter((a) => ![201, 409].includes(a.status) && !isStoreUnavailable(a)).length }).toEqual({
      others: 0,
    });
    // The limit is reached whatever the interleaving; a stream stored beyond the 201s is one whose answer was a 503.
    expect(live.size).toBe(LIMIT);
    expect(admitted.filter((id) => !live.has(id))).toEqual([]);
    expect(
      [...live.keys()].filter((id) => !admitted.includes(id) && !unavailable.includes(Number(id.slice(1)))),
    ).toEqual([]);
    facts.push(
      `block-new: ${RACERS} distinct adds at once, exactly ${LIMIT} stored, every 201 among them, every other add 409 (or a counted 503); no read of the item during the race showed more than ${LIMIT} slots`,
    );
  });

  it('block-new with weights 0-4: the admitted weights fit the limit, 10 weight-0 streams, weight 4 always 409', async () => {
    const userId = uniqueId('race-block-w');
    const weightOf = (i: number) => i % 5;
    const { answers, live, unavailable } = await race('block-new, weights 0-4', userId, (i) => ({
      streamId: `s${i}`,
      weight: weightOf(i),
    }));
    const stored = [...live.keys()].map((id) => Number(id.slice(1)));
    const admitted = answers.flatMap((a, i) => (a.status === 201 ? [i] : []));
    expect(admitted.filter((i) => !stored.includes(i))).toEqual([]);
    expect(stored.filter((i) => !admitted.includes(i) && !unavailable.includes(i))).toEqual([]);
    expect(answers.filter((a, i) => weightOf(i) === 4 && a.status !== 409)).toEqual([]);
    // Weight 0 is refused only past the tenth live one.
    expect(stored.filter((i) => weightOf(i) === 0)).toHaveLength(Math.min(MAX_WEIGHTLESS, RACERS / 5));
    expect(stored.reduce((sum, i) => sum + weightOf(i), 0)).toBeLessThanOrEqual(LIMIT);
    expect([...live].filter(([id, lease]) => lease.w !== weightOf(Number(id.slice(1))))).toEqual([]);
    facts.push(
      `block-new with weights 0-4 (${RACERS} at once): the stored weights never summed above ${LIMIT}, exactly ${MAX_WEIGHTLESS} weight-0 streams got in, every weight-4 add (heavier than the limit) was 409, and the stored leases were the admitted ones with their weights`,
    );
  });

  /**
   * No stream is named by two adds; the named and the live streams were admitted (prefilled, 201, or an
   * add whose answer was a 503); every stream known admitted is live or named, except ones a 503'd add may
   * have ended (its `evicted` list was lost). Heartbeats of the evicted answer 410 evicted naming the add
   * that ended them; the contract lets those older than the 8 newest terminations answer 404.
   */
  const checkEvictions = async (
    label: string,
    userId: string,
    answers: Answer[],
    unavailable: number[],
    final: Record<string, unknown>,
  ) => {
    const live = liveLeasesOf(final, now());
    const evictor = new Map<string, string>();
    const twice: string[] = [];
    for (const answer of answers) {
      for (const victim of evictedBy(answer)) {
        if (evictor.has(victim)) twice.push(victim);
        evictor.set(victim, String(bodyOf(answer).streamId));
      }
    }
    expect({ label, evictedTwice: twice }).toEqual({ label, evictedTwice: [] });
    const lost = unavailable.map((i) => `s${i}`);
    const prefilled = Array.from({ length: LIMIT }, (_, i) => `p${i}`);
    const known = [...prefilled, ...answers.flatMap((a) => (a.status === 201 ? [String(bodyOf(a).streamId)] : []))];
    expect({ label, stillLive: [...evictor.keys()].filter((id) => live.has(id)) }).toEqual({ label, stillLive: [] });
    expect({
      label,
      neverAdmitted: [...evictor.keys(), ...live.keys()].filter((id) => !known.includes(id) && !lost.includes(id)),
    }).toEqual({ label, neverAdmitted: [] });
    const unnamed = known.filter((id) => !evictor.has(id) && !live.has(id));
    expect({ label, unnamed: unnamed.length, allowed: unnamed.length <= lost.length * LIMIT }).toEqual({
      label,
      unnamed: unnamed.length,
      allowed: true,
    });
    const evictors = (victim: string) => (evictor.has(victim) ? [evictor.get(victim)] : lost);
    // The ring holds the newest terminations: this race's evictions, each naming the add that ended it.
    const ring = ringOf(final);
    for (const entry of ring) {
      expect({ entry, reason: entry.reason, named: evictors(entry.streamId).includes(entry.by) }).toEqual({
        entry,
        reason: 'evicted',
        named: true,
      });
    }
    const newest = new Set(ring.map((entry) => entry.streamId));
    const heartbeats = new Tally();
    for (const [i, victim] of [...evictor.keys(), ...unnamed].entries()) {
      const answer = await via(i).post('/streams/heartbeat', { userId, streamId: victim });
      const body = bodyOf(answer);
      heartbeats.add(String(answer.status));
      const context = `${label}: heartbeat of evicted ${victim} answered ${answer.status} ${answer.text}`;
      if (answer.status === 404 && !newest.has(victim)) continue;
      const by = (body.replacedBy as Body | undefined)?.streamId;
      expect({
        context,
        status: answer.status,
        code: body.code,
        reason: body.reason,
        named: evictors(victim).includes(by as string),
      }).toEqual({ context, status: 410, code: 'STREAM_TERMINATED', reason: 'evicted', named: true });
    }
    return { evictions: evictor.size + unnamed.length, named: evictor.size, ring: ring.length, heartbeats };
  };

  it(`evict-oldest: ${RACERS} distinct adds at once on a full user: each admitted add evicts one, nobody evicted twice, exactly ${LIMIT} live at the end`, async () => {
    const userId = uniqueId('race-evict');
    await setPolicy(userId, 'evict-oldest');
    await prefill(userId, LIMIT);
    const { answers, final, live, unavailable } = await race('evict-oldest, weight 1', userId, (i) => ({
      streamId: `s${i}`,
    }));
    // Under evict-oldest nothing of weight <= limit is refused.
    expect(answers.filter((a) => a.status !== 201 && !isStoreUnavailable(a)).map((a) => a.text)).toEqual([]);
    // A full user's add of weight 1 ends exactly one stream.
    expect(answers.filter((a) => a.status === 201 && evictedBy(a).length !== 1).map((a) => a.text)).toEqual([]);
    expect(live.size).toBe(LIMIT);
    const result = await checkEvictions('evict-oldest, weight 1', userId, answers, unavailable, final);
    // The prefilled streams were the oldest: the first evictions took them.
    expect(['p0', 'p1', 'p2'].filter((id) => live.has(id))).toEqual([]);
    figures.push([
      'evict-oldest, weight 1: evictions (named in answers); heartbeats of the evicted streams',
      `${result.evictions} (${result.named}); ${result.heartbeats.toString()}`,
    ]);
    facts.push(
      `evict-oldest: ${RACERS} distinct adds at once on a full user: every 201 named exactly one evicted stream, no stream was named twice, the evicted streams plus the ${LIMIT} live ones were exactly the streams admitted; exactly ${LIMIT} live at the end; no read during the race showed more than ${LIMIT} slots`,
      `evict-oldest: the newest evictions (the ${REMEMBERED}-slot ring) answered heartbeats with 410 evicted naming the add that ended them; every other evicted stream answered the same or, past the contract's ${REMEMBERED} remembered terminations, 404`,
    );
  });

  it('evict-oldest with weights 0-4: slots never above the limit, weight-0 never evicted, weight 4 always 409, nobody evicted twice', async () => {
    const userId = uniqueId('race-evict-w');
    await setPolicy(userId, 'evict-oldest');
    await prefill(userId, LIMIT);
    const weightOf = (i: number) => i % 5;
    const { answers, final, live, unavailable } = await race('evict-oldest, weights 0-4', userId, (i) => ({
      streamId: `s${i}`,
      weight: weightOf(i),
    }));
    // Heavier than the limit: refused under any policy. 1-3: always admitted, by evicting. 0: up to ten.
    expect(answers.filter((a, i) => weightOf(i) === 4 && a.status !== 409).map((a) => a.text)).toEqual([]);
    const refused = answers.filter(
      (a, i) => [1, 2, 3].includes(weightOf(i)) && a.status !== 201 && !isStoreUnavailable(a),
    );
    expect(refused.map((a) => a.text)).toEqual([]);
    const weightless = new Set(answers.flatMap((_, i) => (weightOf(i) === 0 ? [`s${i}`] : [])));
    expect(answers.flatMap(evictedBy).filter((id) => weightless.has(id))).toEqual([]);
    expect(liveSlotsOf(final, now())).toBeLessThanOrEqual(LIMIT);
    // Never evicted, so every weight-0 stream admitted is still live: ten of them.
    expect([...live.keys()].filter((id) => weightless.has(id))).toHaveLength(Math.min(MAX_WEIGHTLESS, RACERS / 5));
    const result = await checkEvictions('evict-oldest, weights 0-4', userId, answers, unavailable, final);
    figures.push([
      'evict-oldest, weights 0-4: evictions (named in answers); heartbeats of the evicted streams',
      `${result.evictions} (${result.named}); ${result.heartbeats.toString()}`,
    ]);
    facts.push(
      `evict-oldest with weights 0-4 (${RACERS} at once): no add of weight 1-3 refused, every weight-4 add 409, exactly ${MAX_WEIGHTLESS} weight-0 streams admitted and none ever evicted; no stream evicted twice; no read during the race showed more than ${LIMIT} slots`,
    );
  });

  it(`evict-oldest: ${RACERS} identical adds of one new stream at once on a full user evict exactly one stream`, async () => {
    const userId = uniqueId('race-evict-retry');
    await setPolicy(userId, 'evict-oldest');
    await prefill(userId, LIMIT);
    const { answers, live } = await race('evict-oldest, one stream sent 100 times', userId, () => ({ streamId: 'tv' }));
    expect(
      answers.filter((a) => a.status !== 200 && a.status !== 201 && !isStoreUnavailable(a)).map((a) => a.text),
    ).toEqual([]);
    expect(count(answers, 201)).toBeLessThanOrEqual(1);
    // Only the admission evicts, and only the oldest stream; every retry (200) evicts nothing.
    expect(answers.flatMap(evictedBy)).toEqual(count(answers, 201) === 1 ? ['p0'] : []);
    expect(answers.filter((a) => a.status === 201 && evictedBy(a).length !== 1)).toEqual([]);
    expect([...live.keys()].sort()).toEqual(['p1', 'p2', 'tv']);
    const heartbeat = await via(0).post('/streams/heartbeat', { userId, streamId: 'p0' });
    expect({
      status: heartbeat.status,
      reason: bodyOf(heartbeat).reason,
      by: (bodyOf(heartbeat).replacedBy as Body).streamId,
    }).toEqual({ status: 410, reason: 'evicted', by: 'tv' });
    facts.push(
      `evict-oldest: ${RACERS} identical adds at once on a full user: one admission evicting exactly the oldest stream, every other answer 200 evicting nothing (a retried add never evicts a second stream); ${LIMIT} live at the end`,
    );
  });

  it('evict-oldest: an add with room costs one UpdateItem, an evicting add two calls and no read (sequential, counted at the proxy)', async () => {
    const users = Array.from({ length: 20 }, () => uniqueId('calls-evict'));
    for (const userId of users) await setPolicy(userId, 'evict-oldest');
    proxy.resetCounts();
    let adds = 0;
    for (const userId of users) {
      for (let s = 0; s < LIMIT; s++) {
        expect((await via(adds).post('/streams/add', { userId, streamId: `s${s}` })).status).toBe(201);
        adds++;
      }
    }
    const withRoom = proxy.counts();
    proxy.resetCounts();
    for (const userId of users) {
      const answer = await via(0).post('/streams/add', { userId, streamId: 'extra' });
      expect({ status: answer.status, evicted: evictedBy(answer) }).toEqual({ status: 201, evicted: ['s0'] });
    }
    const evicting = proxy.counts();
    const perAdd = (calls: Record<string, number>, n: number) =>
      Object.entries(calls)
        .sort()
        .map(([operation, total]) => `${operation} ${(total / n).toFixed(2)}`)
        .join(', ');
    expect(withRoom).toEqual({ UpdateItem: adds });
    expect(evicting).toEqual({ UpdateItem: 2 * users.length });
    figures.push(
      [`evict-oldest add with room, uncontended (${adds} adds): DynamoDB calls per add`, perAdd(withRoom, adds)],
      [
        `evict-oldest add evicting, uncontended (${users.length} adds): DynamoDB calls per add`,
        perAdd(evicting, users.length),
      ],
    );
    facts.push(
      `evict-oldest on the uncontended path: ${adds} adds with room cost exactly 1.00 UpdateItem each (no read); ${users.length} evicting adds cost 2.00 UpdateItem each (the failed condition returns the item; no GetItem)`,
    );
  });
});
