import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { createTestApp, TestClock, testEndpoint, type TestApp } from '../helpers/test-app';
import { HttpClient, type Answer } from './helpers/http-client';
import { describeOp, LeaseModel, MAX_WEIGHTLESS, type Op, type Observed, type Policy } from './helpers/lease-model';
import { recordSection, Tally } from './helpers/results';
import { getRawItem, itemProblems, liveLeasesOf, liveSlotsOf, rawClient } from './helpers/table-check';

/*
 * Model-based randomized test: random interleavings of add (weights 0-10) /
 * heartbeat / remove / replace / check / limit and policy changes / clock
 * moves, sent to three service
 * instances (three createApp + LeaseStore, no shared memory) over one table
 * and one hand-moved clock, each answer checked against a reference model
 * (helpers/lease-model.ts) and the store checked after every step.
 * Concurrent batches are checked for linearizability: some order of the
 * batch's operations must explain every answer and the stored state.
 */

const LEASE_SECONDS = 5;
const STREAM_LIMIT = 2;
const INSTANCES = 3;
const NUM_RUNS = Number(process.env.RELIABILITY_MODEL_RUNS ?? 60);
// The project's testTimeout in jest.config.js is not applied per project (Jest reads it from the global config only).
jest.setTimeout(300_000);

const TIME_BUDGET_MS = Number(process.env.RELIABILITY_MODEL_BUDGET_MS ?? 150_000);
const SEED = process.env.RELIABILITY_SEED === undefined ? undefined : Number(process.env.RELIABILITY_SEED);

const USERS = [0, 1] as const;
const STREAMS = ['s1', 's2', 's3', 's4'] as const;

type Instance = number;
interface AbstractOp {
  readonly op: Op;
  readonly instance: Instance;
  /** For a counter-style remove: send `streamId: null` instead of leaving it out. */
  readonly explicitNull?: boolean;
}
type Step =
  | { readonly type: 'op'; readonly call: AbstractOp }
  | { readonly type: 'batch'; readonly calls: readonly AbstractOp[] }
  | { readonly type: 'advance'; readonly ms: number }
  | { readonly type: 'to-boundary' };

const userArb = fc.constantFrom(...USERS).map((index) => `#${index}`);
const streamArb = fc.constantFrom(...STREAMS);
const instanceArb = fc.nat(INSTANCES - 1);

/** Weights 0, 1 and 2, the default (absent), and now and then one above any limit a run sets. */
const weightArb: fc.Arbitrary<number | undefined> = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  { weight: 2, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.constant(1) },
  { weight: 2, arbitrary: fc.constant(2) },
  { weight: 1, arbitrary: fc.integer({ min: 3, max: 10 }) },
);
// Biased towards evict-oldest: block-new is also what clearLimit and the default give.
const policyArb = fc.constantFrom<Policy>('block-new', 'evict-oldest', 'evict-oldest');

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(userArb, streamArb, fc.option(streamArb, { nil: undefined, freq: 3 }), weightArb)
      .map(([user, stream, replace, weight]): Op => ({
        kind: 'add',
        user,
        stream,
        ...(replace !== undefined && replace !== stream && { replace }),
        ...(weight !== undefined && { weight }),
      })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(userArb, weightArb)
      .map(([user, weight]): Op => ({ kind: 'add', user, ...(weight !== undefined && { weight }) })),
  },
  {
    weight: 5,
    arbitrary: fc.tuple(userArb, streamArb).map(([user, stream]): Op => ({ kind: 'heartbeat', user, stream })),
  },
  {
    // Fewer removes than adds, so users are often full: that is where the policies differ.
    weight: 2,
    arbitrary: fc.tuple(userArb, streamArb).map(([user, stream]): Op => ({ kind: 'remove', user, stream })),
  },
  { weight: 1, arbitrary: userArb.map((user): Op => ({ kind: 'remove', user })) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        userArb,
        fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
        fc.option(policyArb, { nil: undefined }),
      )
      .filter(([, limit, policy]) => limit !== undefined || policy !== undefined)
      .map(([user, limit, policy]): Op => ({
        kind: 'setLimit',
        user,
        ...(limit !== undefined && { limit }),
        ...(policy !== undefined && { policy }),
      })),
  },
  { weight: 1, arbitrary: userArb.map((user): Op => ({ kind: 'clearLimit', user })) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(userArb, weightArb)
      .map(([user, weight]): Op => ({ kind: 'check', user, ...(weight !== undefined && { weight }) })),
  },
);

const callArb: fc.Arbitrary<AbstractOp> = fc
  .tuple(opArb, instanceArb, fc.boolean())
  .map(([op, instance, explicitNull]) => ({
    op,
    instance,
    ...(op.kind === 'remove' && op.stream === undefined && { explicitNull }),
  }));

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 10, arbitrary: callArb.map((call): Step => ({ type: 'op', call })) },
  {
    weight: 3,
    arbitrary: fc.array(callArb, { minLength: 2, maxLength: 4 }).map((calls): Step => ({ type: 'batch', calls })),
  },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 3000 }).map((ms): Step => ({ type: 'advance', ms })) },
  { weight: 1, arbitrary: fc.constant<Step>({ type: 'to-boundary' }) },
);

/**
 * User #1, and now and then #0 too, starts the run under evict-oldest (a per-user policy set by the
 * first steps), so that both policies get long stretches, not only the moments between two random
 * policy changes.
 */
const scenarioArb = fc
  .tuple(
    fc.boolean().map((both) => (both ? ['#0', '#1'] : ['#1'])),
    fc.array(stepArb, { minLength: 20, maxLength: 40 }),
  )
  .map(([evicting, steps]): Step[] => [
    ...evicting.map((user, i): Step => ({
      type: 'op',
      call: { op: { kind: 'setLimit', user, policy: 'evict-oldest' }, instance: i },
    })),
    ...steps,
  ]);

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [items.slice()];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

describe('model-based: three instances, one table, one clock', () => {
  const clock = new TestClock();
  const apps: TestApp[] = [];
  const servers: Server[] = [];
  const clients: HttpClient[] = [];
  let raw: DynamoDBClient;
  let table: string;
  const started = performance.now();

  const tally = {
    runs: 0,
    steps: 0,
    singleOps: 0,
    batches: 0,
    batchOps: 0,
    clockMoves: 0,
    storeChecks: 0,
    outcomes: new Tally(),
    addWeights: new Tally(),
    evictions: 0,
    byInstance: new Tally(),
    batchOrdersTried: 0,
  };

  beforeAll(async () => {
    const env = {
      STREAM_LIMIT: String(STREAM_LIMIT),
      LEASE_SECONDS: String(LEASE_SECONDS),
      RATE_LIMIT_PER_MINUTE: '0',
    };
    const first = await createTestApp(env, { deps: { clock: clock.now } });
    table = first.table;
    apps.push(first);
    for (let i = 1; i < INSTANCES; i++) apps.push(await createTestApp(env, { table, deps: { clock: clock.now } }));
    for (const instance of apps) {
      const server = instance.app.listen(0, '127.0.0.1');
      // As main.ts does: idle keep-alive connections outlive the client's, so a reused socket is never one the server just closed.
      server.keepAliveTimeout = 65_000;
      await new Promise<void>((resolve) => server.once('listening', () => resolve()));
      servers.push(server);
      clients.push(new HttpClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { maxSockets: 8 }));
    }
    raw = rawClient(testEndpoint());
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    for (const instance of apps) instance.close();
    raw?.destroy();
  });

  const send = async (call: AbstractOp, userIds: Map<string, string>): Promise<Observed> => {
    const client = clients[call.instance]!;
    const op = call.op;
    const userId = userIds.get(op.user)!;
    let answer: Answer;
    switch (op.kind) {
      case 'add':
        answer = await client.post('/streams/add', {
          userId,
          ...(op.stream !== undefined && { streamId: op.stream }),
          ...(op.replace !== undefined && { replaceStreamId: op.replace }),
          ...(op.weight !== undefined && { weight: op.weight }),
        });
        break;
      case 'heartbeat':
        answer = await client.post('/streams/heartbeat', { userId, streamId: op.stream });
        break;
      case 'remove':
        answer = await client.post('/streams/remove', {
          userId,
          ...(op.stream !== undefined ? { streamId: op.stream } : call.explicitNull ? { streamId: null } : {}),
        });
        break;
      case 'setLimit':
        answer = await client.request({
          method: 'PUT',
          path: `/users/${encodeURIComponent(userId)}/limit`,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ limit: op.limit, policy: op.policy }),
        });
        break;
      case 'clearLimit':
        answer = await client.request({ method: 'DELETE', path: `/users/${encodeURIComponent(userId)}/limit` });
        break;
      case 'check':
        answer = await client.post('/streams/check', {
          userId,
          ...(op.weight !== undefined && { weight: op.weight }),
        });
        break;
    }
    const answered = (answer.json ?? {}) as Record<string, unknown>;
    const evictedCount = Array.isArray(answered.evicted) ? answered.evicted.length : 0;
    const wouldEvictCount = Array.isArray(answered.wouldEvict) ? answered.wouldEvict.length : 0;
    tally.outcomes.add(
      op.kind === 'check'
        ? `check ${answer.status} ${answered.allowed === true ? (wouldEvictCount > 0 ? 'allowed by evicting' : 'allowed') : 'refused'}`
        : `${op.kind} ${answer.status}${evictedCount > 0 ? ' evicting' : ''}`,
    );
    if (op.kind === 'add') tally.addWeights.add(`weight ${op.weight ?? '(default)'}`);
    tally.evictions += evictedCount;
    tally.byInstance.add(`instance ${call.instance}`);
    if (answer.status >= 500) throw new Error(`${describeOp(op)} answered ${answer.status}: ${answer.text}`);
    const body = (answer.json ?? {}) as Record<string, unknown>;
    // The model speaks of abstract users; answers name real ids.
    return { status: answer.status, body: { ...body, ...(typeof body.userId === 'string' && { userId: op.user }) } };
  };

  /** Lists every user of the run through a rotating instance and reads the raw item. */
  const readStore = async (userIds: Map<string, string>, via: number) => {
    const now = clock.now();
    return Promise.all(
      [...userIds].map(async ([user, userId], i) => {
        const client = clients[(via + i) % INSTANCES]!;
        const [listing, item] = await Promise.all([
          client.get(`/users/${encodeURIComponent(userId)}/streams`),
          getRawItem(raw, table, userId),
        ]);
        tally.storeChecks++;
        const body = (listing.json ?? {}) as Record<string, unknown>;
        return { user, now, listing: { status: listing.status, body: { ...body, userId: user } } as Observed, item };
      }),
    );
  };

  type StoreView = Awaited<ReturnType<typeof readStore>>;

  /** The store agrees with `model`: same listing, sane counters, stored live leases equal the model's, never above the ceiling. */
  const storeMismatch = (model: LeaseModel, views: StoreView): string | undefined => {
    for (const { user, now, listing, item } of views) {
      const listed = model.checkListing(user, now, listing);
      if (listed) return listed;
      const streams = (listing.body.streams as Array<{ streamId: string }>).map((s) => s.streamId);
      if (new Set(streams).size !== streams.length)
        return `duplicate streams listed for ${user}: ${streams.join(', ')}`;
      if (item) {
        const problems = itemProblems(item);
        if (problems.length) return problems.join('; ');
      }
      const storedLeases = liveLeasesOf(item, now);
      const stored = [...storedLeases].map(([id, lease]) => `${id}:${lease.w}`).sort();
      const expected = [...model.live(user, now)].map(([id, lease]) => `${id}:${lease.weight}`).sort();
      if (JSON.stringify(stored) !== JSON.stringify(expected)) {
        return `slot leak or loss for ${user} at t=${now}: stored live ${JSON.stringify(stored)}, model ${JSON.stringify(expected)} (id:weight)`;
      }
      const slots = liveSlotsOf(item, now);
      if (slots > model.ceiling(user, now))
        return `${user} holds ${slots} live slots, above ${model.ceiling(user, now)}`;
      const weightless = [...storedLeases.values()].filter((lease) => lease.w === 0).length;
      if (weightless > MAX_WEIGHTLESS) return `${user} holds ${weightless} live weight-0 streams`;
    }
    return undefined;
  };

  const runScenario = async (steps: readonly Step[]): Promise<void> => {
    tally.runs++;
    const prefix = `m${tally.runs}-${Math.random().toString(36).slice(2, 8)}`;
    const userIds = new Map(USERS.map((index) => [`#${index}`, `${prefix}-u${index}`]));
    let model = new LeaseModel(STREAM_LIMIT, LEASE_SECONDS * 1000);
    const log: string[] = [];
    const fail = (message: string): never => {
      throw new Error(`${message}\nsteps so far:\n  ${log.join('\n  ')}`);
    };

    for (const [index, step] of steps.entries()) {
      tally.steps++;
      const now = clock.now();
      switch (step.type) {
        case 'advance':
          clock.advance(step.ms);
          tally.clockMoves++;
          log.push(`advance ${step.ms} ms`);
          break;
        case 'to-boundary': {
          const boundary = model.nextBoundary(now);
          if (boundary !== undefined) clock.advance(boundary - now);
          tally.clockMoves++;
          log.push(`advance to boundary ${boundary ?? '(none)'}`);
          break;
        }
        case 'op': {
          const observed = await send(step.call, userIds);
          tally.singleOps++;
          log.push(`${describeOp(step.call.op)} via ${step.call.instance} -> ${observed.status}`);
          const mismatch = model.apply(step.call.op, now, observed);
          if (mismatch) fail(mismatch);
          const op = step.call.op;
          if (
            observed.status === 201 &&
            op.kind === 'add' &&
            op.replace === undefined &&
            (op.weight ?? 1) > 0 &&
            !(Array.isArray(observed.body.evicted) && observed.body.evicted.length > 0)
          ) {
            // Explicit invariant, apart from the model: an admission that takes slots and ends nothing never exceeds the limit.
            if (Number(observed.body.slotsInUse) > Number(observed.body.limit))
              fail(`201 with slotsInUse above limit: ${JSON.stringify(observed.body)}`);
          }
          break;
        }
        case 'batch': {
          const answers = await Promise.all(step.calls.map((call) => send(call, userIds)));
          tally.batches++;
          tally.batchOps += step.calls.length;
          log.push(
            `batch [${step.calls.map((call, i) => `${describeOp(call.op)} via ${call.instance} -> ${answers[i]!.status}`).join(' | ')}]`,
          );
          const views = await readStore(userIds, index);
          checkBatchInvariants(step.calls, answers, views, model, fail);
          // Linearizability: some order of the batch explains every answer and the stored state.
          let explained: LeaseModel | undefined;
          const reasons: string[] = [];
          for (const order of permutations(step.calls.map((_, i) => i))) {
            tally.batchOrdersTried++;
            const candidate = model.clone();
            const mismatch =
              order.map((i) => candidate.apply(step.calls[i]!.op, now, answers[i]!)).find((m) => m !== undefined) ??
              storeMismatch(candidate, views);
            if (!mismatch) {
              explained = candidate;
              break;
            }
            reasons.push(`order ${order.join(',')}: ${mismatch}`);
          }
          if (!explained) fail(`no order of the concurrent batch explains the answers:\n    ${reasons.join('\n    ')}`);
          model = explained!;
          continue;
        }
      }
      const mismatch = storeMismatch(model, await readStore(userIds, index));
      if (mismatch) fail(mismatch);
    }
  };

  /** Invariants that hold under any interleaving, checked without the model's help. */
  function checkBatchInvariants(
    calls: readonly AbstractOp[],
    answers: readonly Observed[],
    views: StoreView,
    model: LeaseModel,
    fail: (message: string) => never,
  ): void {
    for (const { user, now, listing } of views) {
      const listed = (listing.body.streams ?? []) as Array<{ streamId: string; weight: number }>;
      const streams = listed.map((s) => s.streamId);
      const slots = listed.reduce((sum, s) => sum + s.weight, 0);
      if (new Set(streams).size !== streams.length) fail(`duplicates after a batch for ${user}: ${streams.join(', ')}`);
      // The most the user may hold: what it could before, or any limit in force during the batch.
      const limitsDuringBatch = calls
        .filter((call) => call.op.user === user)
        .map((call) =>
          call.op.kind === 'setLimit' ? (call.op.limit ?? 0) : call.op.kind === 'clearLimit' ? STREAM_LIMIT : 0,
        );
      const allowed = Math.max(model.ceiling(user, now), Number(listing.body.limit), ...limitsDuringBatch);
      if (slots > allowed) fail(`${user} holds ${slots} live slots after a batch, above ${allowed}`);
      calls.forEach((call, i) => {
        const op = call.op;
        const answer = answers[i]!;
        if (op.user !== user || (op.kind !== 'add' && op.kind !== 'heartbeat') || answer.status >= 300) return;
        const streamId = String(answer.body.streamId);
        const endedInBatch = calls.some((other, j) => {
          const otherAnswer = answers[j]!;
          if (other.op.user !== user || otherAnswer.status >= 300) return false;
          if (other.op.kind === 'remove')
            return otherAnswer.body.removed === true && otherAnswer.body.streamId === streamId;
          if (other.op.kind !== 'add') return false;
          const evicted = (otherAnswer.body.evicted ?? []) as Array<{ streamId?: unknown }>;
          return other.op.replace === streamId || evicted.some((victim) => victim.streamId === streamId);
        });
        if (!streams.includes(streamId) && !endedInBatch)
          fail(`${describeOp(op)} answered ${answer.status} in a batch but ${streamId} is not listed`);
      });
    }
  }

  it('agrees with the reference model after every step, sequential and concurrent', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (steps) => {
        await runScenario(steps);
      }),
      {
        numRuns: NUM_RUNS,
        ...(SEED !== undefined && { seed: SEED }),
        // A budget, not a failure: on a machine slowed by other work, stop starting runs and report how many ran.
        interruptAfterTimeLimit: TIME_BUDGET_MS,
        markInterruptAsFailure: false,
      },
    );

    // However slow the machine, enough runs must have completed for the figures to mean something.
    expect(tally.runs).toBeGreaterThanOrEqual(Math.min(NUM_RUNS, 10));
    const operations = tally.singleOps + tally.batchOps;
    const seconds = (performance.now() - started) / 1000;
    await recordSection('model-based', {
      title: 'Model-based randomized test (3 instances, 1 table, 1 hand-moved clock)',
      finishedAt: new Date().toISOString(),
      seconds,
      figures: [
        [
          'runs (fast-check, 20-40 steps each)',
          tally.runs >= NUM_RUNS
            ? tally.runs
            : `${tally.runs} (of ${NUM_RUNS}; the ${TIME_BUDGET_MS / 1000} s budget ran out)`,
        ],
        ['steps', tally.steps],
        ['API operations checked against the model', operations],
        ['of which sequential', tally.singleOps],
        [
          'of which in concurrent batches (2-4 at once, on different instances)',
          `${tally.batchOps.toLocaleString('en-US')} in ${tally.batches.toLocaleString('en-US')} batches`,
        ],
        ['batch orders tried for linearizability', tally.batchOrdersTried],
        ['clock moves (0-3 s, or onto an expiry boundary)', tally.clockMoves],
        ['store checks (listing via an instance + raw item)', tally.storeChecks],
        ['outcomes', tally.outcomes.toString()],
        ['weights sent with adds', tally.addWeights.toString()],
        ['streams evicted (named in 201 evicted lists)', tally.evictions],
        ['requests per instance', tally.byInstance.toString()],
        [
          'settings',
          `STREAM_LIMIT=${STREAM_LIMIT}, LEASE_SECONDS=${LEASE_SECONDS}, STREAM_POLICY=block-new (evict-oldest per user), 2 users x 4 stream ids per run`,
        ],
      ],
      facts: [
        'every answer (status, activeStreams, slotsInUse, limit, policy, expiresAt, 409 list, evicted, 410 reason/replacedBy, removed, check allowed/wouldEvict) matched the reference model',
        'every eviction ended the oldest weighted streams (any order among equal startedAt), no more than needed; a retried add or an add with room evicted nothing; a retry kept its first weight',
        "after every step the listing and the raw item held exactly the model's live leases with their weights (no leaked slot, no lost lease)",
        'no user ever held more live slots than the limit (or, right after a lowered limit, more than it held then), nor more than 10 live weight-0 streams',
        'every concurrent batch was linearizable: some order of its operations explained all answers and the stored state',
        'cnt, sl and z always equalled the number, total weight and weight-0 count of the L: attributes; the termination ring always held 8 valid slots; no duplicate streams listed',
      ],
    });
    console.log(`[reliability] model-based: ${operations} operations in ${tally.runs} runs, ${seconds.toFixed(1)} s`);
  });
});
