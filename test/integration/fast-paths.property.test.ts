import { randomUUID } from 'node:crypto';
import {
  CreateTableCommand,
  DynamoDBClient,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { decideAdd, decideRemove, liveLeases } from '../../src/leases/lease-rules';
import { emptyState, type AddCommand, type Lease, type LeasePolicy, type UserState } from '../../src/leases/model';
import { fromAttributeMap, type AttributeMap } from '../../src/store/attribute-value';
import { itemToState } from '../../src/store/item-codec';
import {
  fastAdmit,
  fastRelease,
  fastReplace,
  overridesWrite,
  versionedWrite,
  type UpdateRequest,
  type WriteContext,
} from '../../src/store/writes';
import { testEndpoint } from '../helpers/test-app';

/*
 * The admission rules exist twice: as TypeScript (decideAdd, decideRemove) and as DynamoDB
 * conditions (the one-write fast paths). That is the design: it makes admission one write. This
 * property holds them equal on DynamoDB Local, for random stored states and commands:
 * - sound: whenever a fast path's condition holds, the rules admit (or remove) the same thing,
 *   and the item written is the rules' decision;
 * - complete where it claims to be: on an item with no expired lease to prune, a plain add of
 *   weight 1 under the default limit goes through the fast path exactly when the rules admit it
 *   (elsewhere a miss only costs the slow path a second call, never a wrong answer).
 */
jest.setTimeout(120_000);

const NOW = 1_800_000_000_000;
const STREAMS = ['a', 'b', 'c', 'd', 'e'] as const;

let client: DynamoDBClient;
const table = `t-${randomUUID()}`;

beforeAll(async () => {
  client = new DynamoDBClient({
    endpoint: testEndpoint(),
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await client.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'userId', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'userId', KeyType: 'HASH' }],
    }),
  );
});
afterAll(() => client.destroy());

/** Sends a write; the item after it, or undefined when its condition failed. */
async function send(request: UpdateRequest): Promise<UserState | undefined> {
  try {
    const answer = await client.send(new UpdateItemCommand(request as unknown as UpdateItemCommandInput));
    return itemToState(
      (request.Key.userId as { S: string }).S,
      fromAttributeMap((answer.Attributes ?? {}) as AttributeMap),
    );
  } catch (error) {
    if ((error as Error).name === 'ConditionalCheckFailedException') return undefined;
    throw error;
  }
}

const leaseArb = (streamId: string) =>
  fc
    .record({
      startedAt: fc.integer({ min: NOW - 200_000, max: NOW - 1 }),
      // Expired, expiring at the exact millisecond, or live.
      expiresIn: fc.oneof(
        { weight: 1, arbitrary: fc.integer({ min: -50_000, max: -1 }) },
        { weight: 1, arbitrary: fc.constant(0) },
        { weight: 4, arbitrary: fc.integer({ min: 1, max: 90_000 }) },
      ),
      weight: fc.constantFrom(0, 1, 1, 1, 2, 3),
    })
    .map(({ startedAt, expiresIn, weight }): Lease => ({ streamId, startedAt, expiresAt: NOW + expiresIn, weight }));

const stateArb = fc.record({
  leases: fc.subarray([...STREAMS], { maxLength: 3 }).chain((ids) => fc.tuple(...ids.map(leaseArb))),
  limitOverride: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined, freq: 2 }),
  defaultLimit: fc.integer({ min: 0, max: 4 }),
});

const commandArb = fc.oneof(
  fc.record({
    kind: fc.constant('add' as const),
    streamId: fc.constantFrom(...STREAMS),
    weight: fc.constantFrom(0, 1, 1, 2, 3),
  }),
  fc.record({
    kind: fc.constant('replace' as const),
    streamId: fc.constantFrom(...STREAMS),
    replace: fc.constantFrom(...STREAMS),
  }),
  fc.record({ kind: fc.constant('remove' as const), streamId: fc.constantFrom(...STREAMS) }),
);

const basePolicy: LeasePolicy = {
  defaultLimit: 3,
  defaultPolicy: 'block-new',
  maxWeightlessStreams: 10,
  leaseMs: 90_000,
  leaseMaxMs: 90_000,
  maxTerminations: 8,
};

const liveIds = (state: UserState) =>
  liveLeases(state, NOW)
    .map((lease) => `${lease.streamId}:${lease.weight}`)
    .sort();

it('holds the one-write fast paths to the rules on DynamoDB Local', async () => {
  let fastApplied = 0;
  await fc.assert(
    fc.asyncProperty(stateArb, commandArb, async ({ leases, limitOverride, defaultLimit }, command) => {
      const policy: LeasePolicy = { ...basePolicy, defaultLimit };
      const ctx: WriteContext = { table, policy };
      const userId = `p-${randomUUID()}`;
      // Store the state as the service would have: overrides first, then the leases by a versioned write.
      let stored = emptyState(userId);
      if (limitOverride !== undefined) stored = (await send(overridesWrite(ctx, userId, { limit: limitOverride })))!;
      const next: UserState = { ...stored, leases: new Map(leases.map((lease) => [lease.streamId, lease])) };
      stored = (await send(versionedWrite(ctx, stored, next, NOW - 1)))!;

      if (command.kind === 'remove') {
        const after = await send(fastRelease(ctx, userId, command.streamId, NOW));
        const decision = decideRemove(stored, { userId, streamId: command.streamId }, NOW, policy);
        if (after) {
          fastApplied++;
          expect(decision.outcome).toBe('removed');
          if (decision.outcome === 'removed') expect(liveIds(after)).toEqual(liveIds(decision.next));
          expect(after.terminations.get(command.streamId)?.reason).toBe('removed');
        }
        return;
      }
      const add: AddCommand =
        command.kind === 'add'
          ? { userId, streamId: command.streamId, weight: command.weight }
          : { userId, streamId: command.streamId, replaceStreamId: command.replace };
      if (command.kind === 'replace' && command.replace === command.streamId) return;
      const request = command.kind === 'add' ? fastAdmit(ctx, add, NOW) : fastReplace(ctx, add, NOW);
      const after = request && (await send(request));
      const decision = decideAdd(stored, add, NOW, policy);
      if (after) {
        fastApplied++;
        // Sound: the rules admit exactly this, with the same live leases afterwards.
        expect(decision.outcome).toBe('admitted');
        if (decision.outcome === 'admitted') {
          expect(decision.evicted).toEqual([]);
          expect(liveIds(after)).toEqual(liveIds(decision.next));
        }
      }
    }),
    { numRuns: Number(process.env.FAST_PATH_RUNS ?? 120) },
  );
  // The property must have exercised the fast paths, or it proves nothing.
  expect(fastApplied).toBeGreaterThan(10);
});

it('misses no admission the rules would make on an item with nothing to prune (weight 1, default limit)', async () => {
  const liveLeaseArb = (streamId: string) =>
    fc
      .record({ startedAt: fc.integer({ min: NOW - 80_000, max: NOW - 1 }), weight: fc.constantFrom(0, 1, 2) })
      .map(({ startedAt, weight }): Lease => ({ streamId, startedAt, expiresAt: startedAt + 90_000, weight }));
  const cleanArb = fc.record({
    leases: fc.subarray(['b', 'c', 'd', 'e'], { maxLength: 4 }).chain((ids) => fc.tuple(...ids.map(liveLeaseArb))),
    defaultLimit: fc.integer({ min: 0, max: 4 }),
  });
  let admitted = 0;
  await fc.assert(
    fc.asyncProperty(cleanArb, async ({ leases, defaultLimit }) => {
      const policy: LeasePolicy = { ...basePolicy, defaultLimit };
      const ctx: WriteContext = { table, policy };
      const userId = `c-${randomUUID()}`;
      const stored = (await send(
        versionedWrite(
          ctx,
          emptyState(userId),
          { ...emptyState(userId), leases: new Map(leases.map((l) => [l.streamId, l])) },
          NOW - 1,
        ),
      ))!;
      const add: AddCommand = { userId, streamId: 'a' };
      const after = await send(fastAdmit(ctx, add, NOW)!);
      const decision = decideAdd(stored, add, NOW, policy);
      if (decision.outcome === 'admitted') admitted++;
      expect(after !== undefined).toBe(decision.outcome === 'admitted');
    }),
    { numRuns: Number(process.env.FAST_PATH_RUNS ?? 60) },
  );
  expect(admitted).toBeGreaterThan(5);
});
