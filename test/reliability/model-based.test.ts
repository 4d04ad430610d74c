import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { createTestApp, TestClock, testEndpoint, type TestApp } from '../helpers/test-app';
import { HttpClient, type Answer } from './helpers/http-client';
import { describeOp, LeaseModel, type Op, type Observed } from './helpers/lease-model';
import { recordSection, Tally } from './helpers/results';
import { getRawItem, itemProblems, liveLeasesOf, rawClient } from './helpers/table-check';

/*
 * Model-based randomized test: random interleavings of add / heartbeat /
 * remove / replace / limit changes / clock moves, sent to three service
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

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(userArb, streamArb, fc.option(streamArb, { nil: undefined, freq: 3 }))
      .map(([user, stream, replace]): Op => ({
        kind: 'add',
        user,
        stream,
        ...(replace !== undefined && replace !== stream && { replace }),
      })),
  },
  { weight: 1, arbitrary: userArb.map((user): Op => ({ kind: 'add', user })) },
  {
    weight: 5,
    arbitrary: fc.tuple(userArb, streamArb).map(([user, stream]): Op => ({ kind: 'heartbeat', user, stream })),
  },
  {
    weight: 3,
    arbitrary: fc.tuple(userArb, streamArb).map(([user, stream]): Op => ({ kind: 'remove', user, stream })),
  },
  { weight: 1, arbitrary: userArb.map((user): Op => ({ kind: 'remove', user })) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(userArb, fc.integer({ min: 0, max: 3 }))
      .map(([user, limit]): Op => ({ kind: 'setLimit', user, limit })),
  },
  { weight: 1, arbitrary: userArb.map((user): Op => ({ kind: 'clearLimit', user })) },
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

const scenarioArb = fc.array(stepArb, { minLength: 20, maxLength: 40 });

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
          body: JSON.stringify({ limit: op.limit }),
        });
        break;
      case 'clearLimit':
        answer = await client.request({ method: 'DELETE', path: `/users/${encodeURIComponent(userId)}/limit` });
        break;
    }
    tally.outcomes.add(`${op.kind} ${answer.status}`);
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
      const stored = [...liveLeasesOf(item, now).keys()].sort();
      const expected = [...model.live(user, now).keys()].sort();
      if (JSON.stringify(stored) !== JSON.stringify(expected)) {
        return `slot leak or loss for ${user} at t=${now}: stored live ${JSON.stringify(stored)}, model ${JSON.stringify(expected)}`;
      }
      if (stored.length > model.ceiling(user, now))
        return `${user} holds ${stored.length} live streams, above ${model.ceiling(user, now)}`;
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
          if (observed.status === 201 && step.call.op.kind === 'add' && step.call.op.replace === undefined) {
            // Explicit invariant, apart from the model: a count-raising admission never exceeds the limit.
            if (Number(observed.body.activeStreams) > Number(observed.body.limit))
              fail(`201 with activeStreams above limit: ${JSON.stringify(observed.body)}`);
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
      const streams = ((listing.body.streams ?? []) as Array<{ streamId: string }>).map((s) => s.streamId);
      if (new Set(streams).size !== streams.length) fail(`duplicates after a batch for ${user}: ${streams.join(', ')}`);
      // The most the user may hold: what it could before, or any limit in force during the batch.
      const limitsDuringBatch = calls
        .filter((call) => call.op.user === user)
        .map((call) =>
          call.op.kind === 'setLimit' ? call.op.limit : call.op.kind === 'clearLimit' ? STREAM_LIMIT : 0,
        );
      const allowed = Math.max(model.ceiling(user, now), Number(listing.body.limit), ...limitsDuringBatch);
      if (streams.length > allowed)
        fail(`${user} holds ${streams.length} live streams after a batch, above ${allowed}`);
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
          return other.op.kind === 'add' && other.op.replace === streamId;
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
        ['requests per instance', tally.byInstance.toString()],
        ['settings', `STREAM_LIMIT=${STREAM_LIMIT}, LEASE_SECONDS=${LEASE_SECONDS}, 2 users x 4 stream ids per run`],
      ],
      facts: [
        'every answer (status, activeStreams, limit, expiresAt, 409 list, 410 reason/replacedBy, removed) matched the reference model',
        "after every step the listing and the raw item held exactly the model's live leases (no leaked slot, no lost lease)",
        'no user ever held more live streams than the limit (or, right after a lowered limit, more than it held then)',
        'every concurrent batch was linearizable: some order of its operations explained all answers and the stored state',
        'cnt always equalled the number of L: attributes; the termination ring always held 8 valid slots; no duplicate streams listed',
      ],
    });
    console.log(`[reliability] model-based: ${operations} operations in ${tally.runs} runs, ${seconds.toFixed(1)} s`);
  });
});
