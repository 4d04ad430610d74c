import { randomBytes } from 'node:crypto';
import { types } from 'node:util';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import {
  fromAttributeMap,
  toAttributeMap,
  toAttributeValue,
  type AttributeMap,
  type AttributeValue,
} from './attribute-value';
import { DynamoServiceError, DynamoWire, type DynamoCaller } from './dynamo-wire';
import { itemEndpoint } from './dynamo-endpoint';
import type { StoreEndpoint } from '../config';
import { ApiError, StoreUnavailable } from '../errors';
import {
  decideAdd,
  decideCheck,
  slotsOf,
  type CheckDecision,
  decideHeartbeat,
  decideRemove,
  isLive,
  newLease,
  removedTermination,
  replacedTermination,
} from '../leases/lease-rules';
import {
  ADMISSION_POLICIES,
  emptyState,
  type AdmissionPolicy,
  type AddCommand,
  type Lease,
  type LeasePolicy,
  type RemoveCommand,
  type StreamRef,
  type Termination,
  type UserState,
} from '../leases/model';
import {
  DISPLAY_RETENTION_SECONDS,
  GC_GRACE_SECONDS,
  INLINE_DISPLAY_BYTES,
  LEASE_PREFIX,
  PARTITION_KEY,
  PINNED,
  TERMINATIONS,
  TTL_ATTRIBUTE,
  displayBytes,
  displayKey,
} from './table';

export interface LeaseStoreOptions {
  readonly endpoint: Exclude<StoreEndpoint, { kind: 'embedded' }> | { kind: 'url'; url: string };
  readonly region: string;
  readonly table: string;
  /** Bound on one operation, retries and read-modify-write rounds included. */
  readonly timeoutMs: number;
  readonly policy: LeasePolicy;
  /** Observes every DynamoDB call (metrics); never throws. */
  readonly onStoreCall?: (call: StoreCallReport) => void;
  /** Observes expired leases a slow-path write removed from an item (metrics); never throws. */
  readonly onLeasesPruned?: (count: number) => void;
  /** Sends the item reads and writes; by default DynamoWire to the endpoint. Tests and the CPU bench stub it. */
  readonly dynamo?: DynamoCaller;
}

export interface StoreCallReport {
  readonly operation: 'UpdateItem' | 'GetItem' | 'PutItem' | 'BatchGetItem';
  readonly seconds: number;
  readonly outcome: 'ok' | 'condition-failed' | StoreUnavailable['kind'];
  /** Write units DynamoDB says the call consumed (ReturnConsumedCapacity), for applied writes. */
  readonly writeUnits?: number;
}

export type AdmitResult =
  | {
      readonly outcome: 'admitted' | 'renewed';
      readonly lease: Lease;
      readonly state: UserState;
      /** Streams this add ended to make room (evict-oldest), with their deviceIds. */
      readonly evicted: readonly Lease[];
    }
  | { readonly outcome: 'rejected'; readonly limit: number; readonly live: Lease[]; readonly state: UserState };

export type RenewResult =
  | { readonly outcome: 'renewed'; readonly lease: Lease; readonly state: UserState }
  | { readonly outcome: 'not-found'; readonly state: UserState }
  | { readonly outcome: 'terminated'; readonly termination: Termination; readonly state: UserState };

export type ReleaseResult = {
  readonly outcome: 'removed' | 'absent';
  readonly streamId: string | null;
  readonly state: UserState;
};

/** The item was too big for DynamoDB (400 KB): the caller asked to store too much metadata. */
export class ItemTooLarge extends ApiError {
  constructor() {
    super(400, 'VALIDATION_ERROR', 'Validation failed', "metadata: too large to store with this user's other streams", {
      errors: [{ path: 'metadata', message: "too large to store with this user's other streams" }],
    });
  }
}

type Item = Record<string, unknown>;

/** An UpdateItem request body in DynamoDB's JSON protocol. */
interface UpdateRequest {
  readonly TableName: string;
  readonly Key: AttributeMap;
  readonly UpdateExpression: string;
  readonly ConditionExpression?: string;
  readonly ExpressionAttributeNames: Record<string, string>;
  readonly ExpressionAttributeValues: Record<string, AttributeValue>;
  readonly ReturnValues: 'ALL_NEW';
  readonly ReturnValuesOnConditionCheckFailure: 'ALL_OLD';
  readonly ReturnConsumedCapacity: 'TOTAL';
}
type WriteOutcome =
  { readonly applied: true; readonly item: Item } | { readonly applied: false; readonly item: Item | undefined };

/** Builds ExpressionAttributeNames/Values with short placeholders, so ids never appear in expressions. */
class ExpressionBuilder {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, AttributeValue> = {};
  private nameCount = 0;
  private valueCount = 0;
  private readonly nameIndex = new Map<string, string>();

  name(attribute: string): string {
    let placeholder = this.nameIndex.get(attribute);
    if (!placeholder) {
      placeholder = `#n${this.nameCount++}`;
      this.nameIndex.set(attribute, placeholder);
      this.names[placeholder] = attribute;
    }
    return placeholder;
  }

  value(value: unknown): string {
    const placeholder = `:v${this.valueCount++}`;
    this.values[placeholder] = toAttributeValue(value);
    return placeholder;
  }
}

const leaseAttribute = (streamId: string) => LEASE_PREFIX + streamId;
/** An empty ring: TERMINATION_SLOTS placeholders, so that every termination is "append one, drop the first". */
const emptyRing = (slots: number): Item[] => Array.from({ length: slots }, () => ({}));

/** deviceId and metadata as stored: inline in the lease, or as the attributes of its display item. */
function displayToItem(lease: Pick<Lease, 'deviceId' | 'metadata'>): Item {
  return {
    ...(lease.deviceId !== undefined && { d: lease.deviceId }),
    // A Map, not the caller's object: the marshaller refuses plain objects whose own key
    // "constructor" is a string, and that key is valid metadata.
    ...(lease.metadata !== undefined && { m: new Map(Object.entries(lease.metadata)) }),
  };
}

function leaseToItem(lease: Lease): Item {
  // Why: a lease whose display data lives in a display item carries only the token that finds it,
  // so the item every heartbeat rewrites stays within the contract's write-cost bound.
  const display = lease.displayRef === undefined ? displayToItem(lease) : { x: lease.displayRef };
  // w always stored: a remove subtracts it from sl in the same write without knowing it.
  return { s: lease.startedAt, e: lease.expiresAt, w: lease.weight, ...display };
}

const REASON_CODES = { removed: 'r', replaced: 'p', evicted: 'e' } as const satisfies Record<
  Termination['reason'],
  string
>;
const REASONS = Object.fromEntries(Object.entries(REASON_CODES).map(([reason, code]) => [code, reason])) as Record<
  string,
  Termination['reason']
>;

/**
 * One slot of the termination ring. The replacing stream is named by its id only: its deviceId is
 * looked up when a 410 needs it (eight of them at 128 bytes would not fit the 2 KB bound).
 */
function terminationToItem(termination: Termination): Item {
  return {
    i: termination.streamId,
    a: termination.at,
    r: REASON_CODES[termination.reason],
    ...(termination.replacedBy && { b: termination.replacedBy.streamId }),
  };
}

/** The ring as the rules' terminations, oldest first, newest per stream; placeholders are skipped. */
function ringToTerminations(ring: unknown): Map<string, Termination> {
  const terminations = new Map<string, Termination>();
  for (const slot of Array.isArray(ring) ? (ring as Record<string, unknown>[]) : []) {
    if (typeof slot?.i !== 'string') continue;
    terminations.delete(slot.i);
    terminations.set(slot.i, {
      streamId: slot.i,
      reason: REASONS[String(slot.r)] ?? 'removed',
      at: Number(slot.a),
      ...(typeof slot.b === 'string' && { replacedBy: { streamId: slot.b } }),
    });
  }
  return terminations;
}

/** Reads a stored item into the rules' UserState; unknown attributes are ignored. */
export function itemToState(userId: string, item: Item | undefined): UserState {
  if (!item) return emptyState(userId);
  const leases = new Map<string, Lease>();
  for (const [attribute, raw] of Object.entries(item)) {
    const value = raw as Record<string, unknown>;
    if (attribute.startsWith(LEASE_PREFIX)) {
      const streamId = attribute.slice(LEASE_PREFIX.length);
      leases.set(streamId, {
        streamId,
        startedAt: Number(value.s),
        expiresAt: Number(value.e),
        weight: typeof value.w === 'number' ? value.w : 1,
        ...(typeof value.d === 'string' && { deviceId: value.d }),
        ...(value.m !== undefined && { metadata: value.m as Record<string, string> }),
        ...(typeof value.x === 'string' && { displayRef: value.x }),
      });
    }
  }
  return {
    userId,
    exists: true,
    version: Number(item.ver ?? 0),
    leases,
    terminations: ringToTerminations(item[TERMINATIONS]),
    ...(typeof item.lim === 'number' && { limitOverride: item.lim }),
    ...(isAdmissionPolicy(item.pol) && { policyOverride: item.pol }),
  };
}

function isAdmissionPolicy(value: unknown): value is AdmissionPolicy {
  return (ADMISSION_POLICIES as readonly unknown[]).includes(value);
}

function isNetworkFault(error: Error & { code?: string }): boolean {
  return (
    [
      'ECONNREFUSED',
      'ECONNRESET',
      'EPIPE',
      'ETIMEDOUT',
      'ENOTFOUND',
      'EAI_AGAIN',
      'EHOSTUNREACH',
      'ECONNABORTED',
      'UND_ERR_SOCKET',
    ].includes(error.code ?? '') || /socket hang up|network|connect/i.test(error.message)
  );
}

/** Every fault of the store becomes a bounded 503; only a real bug stays an exception. */
function classifyFault(error: unknown): StoreUnavailable | ApiError | Error {
  // isNativeError too: socket errors come from Node's own realm, which `instanceof` misses under jest's vm.
  if (!(error instanceof Error || types.isNativeError(error))) return new StoreUnavailable('error', { cause: error });
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  switch (error.name) {
    case 'AbortError':
    case 'TimeoutError':
    case 'RequestTimeout':
      return new StoreUnavailable('timeout', { cause: error });
    case 'ProvisionedThroughputExceededException':
    case 'ThrottlingException':
    case 'RequestLimitExceeded':
      return new StoreUnavailable('throttled', { cause: error });
    case 'ResourceNotFoundException':
      return new StoreUnavailable('missing-table', { cause: error });
    case 'ValidationException':
      if (/item size/i.test(error.message)) return new ItemTooLarge();
      return error;
  }
  if (isNetworkFault(error)) return new StoreUnavailable('unreachable', { cause: error });
  // Anything that is not an answer from DynamoDB (DynamoWire's or the SDK's errors carry $metadata) nor a
  // credentials failure (a marshalling error, say) is a bug of ours: a 503 would invite players to retry
  // a request that can never succeed.
  const fromStore = '$metadata' in error || '$fault' in error || error.name === 'CredentialsProviderError';
  if (!fromStore) return error;
  // 5xx, credentials, access denied, unexpected HTTP answers: the store is unusable right now.
  if (status === undefined || status >= 500 || status === 400 || status === 403) {
    return new StoreUnavailable('error', { cause: error });
  }
  return error;
}

/** The add with its display data marked for a display item when it is too big to ride in the user's item. */
function placeDisplay(command: AddCommand): AddCommand {
  if (displayBytes(command) <= INLINE_DISPLAY_BYTES) return command;
  return { ...command, displayRef: randomBytes(6).toString('base64url') };
}

/**
 * Once the user's item has decided (a refusal, a termination, an eviction), a failed read of display
 * data only loses the optional deviceId/metadata: the decision stands. Answering the fault instead
 * would turn a 409 or 410 into a 503, or under STORE_FAILURE_MODE=open into a degraded admission.
 */
function withoutDisplay<T>(undecorated: T): (error: unknown) => T {
  return (error) => {
    if (error instanceof StoreUnavailable) return undecorated;
    throw error;
  };
}

/** Read-modify-write rounds before giving up under extreme contention (each round is one UpdateItem). */
const MAX_ROUNDS = 25;

/**
 * The only module that talks to DynamoDB. Each intent first tries one
 * conditional UpdateItem whose condition guarantees the rules would decide
 * the same on the current item (the fast path: one call). When the
 * condition fails, DynamoDB returns the current item (ALL_OLD), the rules
 * decide on it, and any write is guarded by the item's version.
 */
export class LeaseStore {
  /** The SDK: table creation, and the credentials and endpoint the wire client uses. */
  private readonly client: DynamoDBClient;
  /** Every item read and write. */
  private readonly dynamo: DynamoCaller;
  private readonly table: string;
  private readonly policy: LeasePolicy;
  private readonly timeoutMs: number;
  private readonly onStoreCall: (call: StoreCallReport) => void;
  private readonly onLeasesPruned: (count: number) => void;

  constructor(options: LeaseStoreOptions) {
    this.client = new DynamoDBClient({
      region: options.region,
      maxAttempts: 3,
      ...(options.endpoint.kind === 'url' && {
        endpoint: options.endpoint.url,
        // DynamoDB Local accepts any credentials; real AWS uses the SDK's default chain.
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
      requestHandler: new NodeHttpHandler({ connectionTimeout: options.timeoutMs, requestTimeout: options.timeoutMs }),
    });
    const client = this.client;
    this.dynamo =
      options.dynamo ??
      new DynamoWire({
        // Where the SDK would send them: AWS_ENDPOINT_URL_DYNAMODB, account-based endpoints, FIPS, dual-stack.
        endpoint: () => itemEndpoint(client, options.table),
        region: options.region,
        // The SDK's default chain (task role, environment, profile), memoized and refreshed by the SDK.
        credentials: () => client.config.credentials(),
      });
    this.table = options.table;
    this.policy = options.policy;
    this.timeoutMs = options.timeoutMs;
    this.onStoreCall = options.onStoreCall ?? (() => undefined);
    this.onLeasesPruned = options.onLeasesPruned ?? (() => undefined);
  }

  /** Admits, renews (retry) or replaces a stream, or reports the live ones when the user is at the limit. */
  async admitStream(input: AddCommand, now: number): Promise<AdmitResult> {
    const deadline = Date.now() + this.timeoutMs;
    const command = placeDisplay(input);
    const fast = command.replaceStreamId === undefined ? this.fastAdmit(command, now) : this.fastReplace(command, now);
    let attempt = fast
      ? await this.update(fast, deadline)
      : { applied: false as const, item: await this.read(command.userId, deadline) };
    if (attempt.applied) {
      const state = itemToState(command.userId, attempt.item);
      const lease = state.leases.get(command.streamId)!;
      await this.storeDisplay(command, lease, deadline);
      return { outcome: 'admitted', lease, state, evicted: [] };
    }
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const state = itemToState(command.userId, attempt.item);
      const decision = decideAdd(state, command, now, this.policy);
      if (decision.outcome === 'rejected') {
        const live = await this.withDisplay(command.userId, decision.live, deadline).catch(
          withoutDisplay(decision.live),
        );
        return { ...decision, live, state };
      }
      const onlyRenews =
        decision.outcome === 'renewed' && !isLive(state.leases.get(command.replaceStreamId ?? ''), now);
      // A retry only extends its own live lease, which commutes with any other write: no version guard,
      // so many concurrent retries of one stream cost one write each instead of racing for the version.
      // A retried replace renews only while the stream it names is still not live; if that stream
      // was admitted in between, the write fails and the rules decide again (and end it).
      const write = onlyRenews
        ? this.renewWrite(command.userId, command.streamId, now, command.replaceStreamId)
        : this.versionedWrite(state, decision.next, now);
      attempt = await this.update(write, deadline);
      if (attempt.applied && !onlyRenews) this.reportPruned(state, decision.next, now);
      if (attempt.applied) {
        await this.storeDisplay(command, decision.lease, deadline);
        return {
          outcome: decision.outcome,
          lease: decision.lease,
          state: itemToState(command.userId, attempt.item),
          evicted: await this.withDisplay(command.userId, [...decision.evicted], deadline).catch(
            withoutDisplay([...decision.evicted]),
          ),
        };
      }
    }
    throw new StoreUnavailable('error', { cause: new Error(`admission lost ${MAX_ROUNDS} races in a row`) });
  }

  /** Extends a live lease by LEASE_SECONDS; otherwise says whether it ended recently (410) or is unknown (404). */
  async renewLease(ref: StreamRef, now: number): Promise<RenewResult> {
    const deadline = Date.now() + this.timeoutMs;
    const attempt = await this.update(this.renewWrite(ref.userId, ref.streamId, now), deadline);
    const state = itemToState(ref.userId, attempt.item);
    if (attempt.applied) return { outcome: 'renewed', lease: state.leases.get(ref.streamId)!, state };
    const decision = decideHeartbeat(state, ref, now, this.policy);
    // The condition failed, so the lease is not live at `now`: the rules can only say 404 or 410.
    if (decision.outcome === 'renewed') return { outcome: 'not-found', state };
    if (decision.outcome === 'not-found') return { ...decision, state };
    const termination = await this.withReplacerDevice(state, decision.termination, deadline).catch(
      withoutDisplay(decision.termination),
    );
    return { outcome: 'terminated', termination, state };
  }

  /** Ends a live stream (or, without streamId, the one expiring soonest); idempotent. */
  async releaseStream(command: RemoveCommand, now: number): Promise<ReleaseResult> {
    const deadline = Date.now() + this.timeoutMs;
    let attempt: WriteOutcome =
      command.streamId === undefined
        ? { applied: false, item: await this.read(command.userId, deadline) }
        : await this.update(this.fastRelease(command.userId, command.streamId, now), deadline);
    if (attempt.applied)
      return { outcome: 'removed', streamId: command.streamId!, state: itemToState(command.userId, attempt.item) };
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const state = itemToState(command.userId, attempt.item);
      const decision = decideRemove(state, command, now, this.policy);
      if (decision.outcome === 'absent') return { ...decision, state };
      attempt = await this.update(this.versionedWrite(state, decision.next, now), deadline);
      if (attempt.applied) this.reportPruned(state, decision.next, now);
      if (attempt.applied)
        return { outcome: 'removed', streamId: decision.streamId, state: itemToState(command.userId, attempt.item) };
    }
    throw new StoreUnavailable('error', { cause: new Error(`release lost ${MAX_ROUNDS} races in a row`) });
  }

  /** What an add of `weight` would do now (POST /streams/check): the same rules on a strongly consistent read, no write. */
  async checkAdmission(userId: string, weight: number, now: number): Promise<{ state: UserState } & CheckDecision> {
    const state = await this.readUser(userId, now);
    return { state, ...decideCheck(state, weight, now, this.policy) };
  }

  /** The user's item, strongly consistent, with the live leases' display data (one more read when any is out of line). */
  async readUser(userId: string, now: number): Promise<UserState> {
    const deadline = Date.now() + this.timeoutMs;
    return this.withLiveDisplay(itemToState(userId, await this.read(userId, deadline)), now, deadline);
  }

  /**
   * Sets a per-user limit and/or admission policy override. It lives on the user's item, so
   * admission still needs one conditional write; pinning gcAt to a string keeps TTL (which only
   * deletes numeric timestamps) from ever expiring the override.
   */
  async setOverrides(
    userId: string,
    overrides: { limit?: number; policy?: AdmissionPolicy },
    now: number,
  ): Promise<UserState> {
    const expression = new ExpressionBuilder();
    const zero = expression.value(0);
    const pinned = expression.value(PINNED);
    const counter = (name: string) => `${expression.name(name)} = if_not_exists(${expression.name(name)}, ${zero})`;
    const input = this.updateInput(userId, expression, {
      set: [
        ...(overrides.limit !== undefined ? [`${expression.name('lim')} = ${expression.value(overrides.limit)}`] : []),
        ...(overrides.policy !== undefined
          ? [`${expression.name('pol')} = ${expression.value(overrides.policy)}`]
          : []),
        `${expression.name('pin')} = ${pinned}`,
        `${expression.name(TTL_ATTRIBUTE)} = ${pinned}`,
        // Why the counters: a fast add reads a missing sl as "a new user on the default limit".
        counter('cnt'),
        counter('sl'),
        counter('z'),
        this.ringIfMissing(expression),
        `${expression.name('ver')} = if_not_exists(${expression.name('ver')}, ${zero}) + ${expression.value(1)}`,
      ],
    });
    const deadline = Date.now() + this.timeoutMs;
    const attempt = await this.update(input, deadline);
    return this.withLiveDisplay(itemToState(userId, attempt.item), now, deadline);
  }

  /** Removes the overrides: the user is back on STREAM_LIMIT and STREAM_POLICY, and the item may be garbage-collected again. */
  async clearLimit(userId: string, now: number): Promise<UserState> {
    const expression = new ExpressionBuilder();
    const input = this.updateInput(userId, expression, {
      condition: `attribute_exists(${expression.name(PARTITION_KEY)})`,
      set: [
        `${expression.name(TTL_ATTRIBUTE)} = ${expression.value(this.gcAt(now))}`,
        `${expression.name('ver')} = ${expression.name('ver')} + ${expression.value(1)}`,
      ],
      remove: [expression.name('lim'), expression.name('pol'), expression.name('pin')],
    });
    const deadline = Date.now() + this.timeoutMs;
    const attempt = await this.update(input, deadline);
    return this.withLiveDisplay(itemToState(userId, attempt.item), now, deadline);
  }

  /** Readiness probe: one cheap strongly-consistent read of a key no user can have. */
  async ping(): Promise<void> {
    await this.read('#readyz', Date.now() + this.timeoutMs);
  }

  /** Creates the table (on-demand, TTL on gcAt) if missing. For DynamoDB Local and self-run endpoints only. */
  async ensureTable(): Promise<void> {
    try {
      await this.client.send(new DescribeTableCommand({ TableName: this.table }));
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw classifyFault(error);
      try {
        await this.client.send(
          new CreateTableCommand({
            TableName: this.table,
            BillingMode: 'PAY_PER_REQUEST',
            AttributeDefinitions: [{ AttributeName: PARTITION_KEY, AttributeType: 'S' }],
            KeySchema: [{ AttributeName: PARTITION_KEY, KeyType: 'HASH' }],
          }),
        );
      } catch (createError) {
        // Another instance created it first.
        if (!(createError instanceof ResourceInUseException)) throw classifyFault(createError);
      }
      await this.waitUntilActive();
      try {
        await this.client.send(
          new UpdateTimeToLiveCommand({
            TableName: this.table,
            TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
          }),
        );
      } catch (ttlError) {
        // "TimeToLive is already enabled" when two instances race here.
        if ((ttlError as Error).name !== 'ValidationException') throw classifyFault(ttlError);
      }
    }
  }

  /** Polls every 200 ms (the SDK waiter's first poll comes after 20 s; DynamoDB Local is ACTIVE at once). */
  private async waitUntilActive(): Promise<void> {
    for (let polls = 0; polls < 300; polls++) {
      const { Table } = await this.client.send(new DescribeTableCommand({ TableName: this.table }));
      if (Table?.TableStatus === 'ACTIVE') return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new StoreUnavailable('missing-table', { cause: new Error(`table ${this.table} did not become ACTIVE`) });
  }

  destroy(): void {
    this.client.destroy();
    this.dynamo.destroy();
  }

  // --- display data kept out of the user's item -------------------------------

  /**
   * Writes an admitted lease's display item, after the admission (a refused add must not pay for
   * it). Should this write fail, the add answers 503 and its retry, which renews, writes it again.
   */
  private async storeDisplay(command: AddCommand, lease: Lease, deadline: number): Promise<void> {
    if (lease.displayRef === undefined || (command.deviceId === undefined && command.metadata === undefined)) return;
    const started = performance.now();
    const item = {
      [PARTITION_KEY]: displayKey(command.userId, command.streamId),
      x: lease.displayRef,
      ...displayToItem(command),
      [TTL_ATTRIBUTE]: Math.ceil(Date.now() / 1000) + DISPLAY_RETENTION_SECONDS,
    };
    try {
      const answer = await this.dynamo.call(
        'PutItem',
        {
          TableName: this.table,
          Item: toAttributeMap(Object.entries(item)),
          // Why: a retried add (renewed) keeps the display data first admitted, as it keeps the lease;
          // it only writes the display item when the first attempt's write was lost.
          ConditionExpression: 'attribute_not_exists(#x) OR #x <> :x',
          ExpressionAttributeNames: { '#x': 'x' },
          ExpressionAttributeValues: { ':x': { S: lease.displayRef } },
          ReturnConsumedCapacity: 'TOTAL',
        },
        deadline,
      );
      this.report('PutItem', started, 'ok', answer);
    } catch (error) {
      if (error instanceof DynamoServiceError && error.name === 'ConditionalCheckFailedException') {
        this.report('PutItem', started, 'condition-failed');
        return;
      }
      throw this.fault('PutItem', started, error);
    }
  }

  /** The leases with their out-of-line display data read back (one BatchGetItem; none when all is inline). */
  private async withDisplay(userId: string, leases: Lease[], deadline: number): Promise<Lease[]> {
    const wanted = leases.filter((lease) => lease.displayRef !== undefined);
    if (wanted.length === 0) return leases;
    const found = new Map<string, Item>();
    let keys: AttributeMap[] = wanted.map((lease) => ({ [PARTITION_KEY]: { S: displayKey(userId, lease.streamId) } }));
    // BatchGetItem may leave keys unprocessed under load; ask again for those until the deadline.
    while (keys.length > 0) {
      const started = performance.now();
      let answer: Record<string, unknown>;
      try {
        answer = await this.dynamo.call(
          'BatchGetItem',
          { RequestItems: { [this.table]: { Keys: keys, ConsistentRead: true } } },
          deadline,
        );
      } catch (error) {
        throw this.fault('BatchGetItem', started, error);
      }
      this.report('BatchGetItem', started, 'ok');
      const responses = (answer.Responses as Record<string, AttributeMap[]> | undefined)?.[this.table] ?? [];
      for (const raw of responses) {
        const item = fromAttributeMap(raw);
        found.set(String(item[PARTITION_KEY]), item);
      }
      const unprocessed = (answer.UnprocessedKeys as Record<string, { Keys?: AttributeMap[] }> | undefined)?.[
        this.table
      ];
      keys = unprocessed?.Keys ?? [];
      if (keys.length > 0 && Date.now() >= deadline)
        throw new StoreUnavailable('throttled', { cause: new Error('BatchGetItem left keys unprocessed') });
    }
    return leases.map((lease) => {
      const item = lease.displayRef === undefined ? undefined : found.get(displayKey(userId, lease.streamId));
      // A display item with another token belongs to an earlier stream of the same id.
      if (!item || item.x !== lease.displayRef) return lease;
      return {
        ...lease,
        ...(typeof item.d === 'string' && { deviceId: item.d }),
        ...(item.m !== undefined && { metadata: item.m as Record<string, string> }),
      };
    });
  }

  /** The state with its live leases' display data read back, for the views that list them. */
  private async withLiveDisplay(state: UserState, now: number, deadline: number): Promise<UserState> {
    const live = [...state.leases.values()].filter((lease) => isLive(lease, now));
    const shown = await this.withDisplay(state.userId, live, deadline);
    if (shown === live) return state;
    const leases = new Map(state.leases);
    for (const lease of shown) leases.set(lease.streamId, lease);
    return { ...state, leases };
  }

  /** A termination whose replacing stream's deviceId is filled in from that stream's lease, if it is still held. */
  private async withReplacerDevice(state: UserState, termination: Termination, deadline: number): Promise<Termination> {
    const by = termination.replacedBy;
    if (!by || by.deviceId !== undefined) return termination;
    const replacer = state.leases.get(by.streamId);
    if (!replacer) return termination;
    const [shown] = await this.withDisplay(state.userId, [replacer], deadline);
    if (shown?.deviceId === undefined) return termination;
    return { ...termination, replacedBy: { streamId: by.streamId, deviceId: shown.deviceId } };
  }

  // --- fast paths: one conditional write each ---------------------------------

  /**
   * A plain add in one write. The condition admits only what the rules would:
   * the stream is not already stored (a retry or an expired lease takes the
   * slow path), and the stored slots (sl, the weights of every stored lease,
   * expired-but-unpruned ones too, so sl >= the live slots) leave room for this
   * weight; a weight-0 add instead needs fewer than maxWeightlessStreams stored
   * weight-0 leases (z). No pruning happens here. Returns undefined when no
   * condition can prove room (a weight above 1 under a per-user limit: DynamoDB
   * conditions cannot add), so the rules decide on a read.
   */
  private fastAdmit(command: AddCommand, now: number): UpdateRequest | undefined {
    const expression = new ExpressionBuilder();
    const weight = command.weight ?? 1;
    const slots = expression.name('sl');
    const weightless = expression.name('z');
    const zero = expression.value(0);
    const one = expression.value(1);
    const defaultLimit = this.policy.defaultLimit;
    let room: string[];
    if (weight === 0) {
      room = [
        `attribute_not_exists(${weightless})`,
        `${weightless} < ${expression.value(this.policy.maxWeightlessStreams)}`,
      ];
    } else {
      const limit = expression.name('lim');
      room = [
        // A missing counter means a new user, whose limit is the default.
        ...(defaultLimit >= weight
          ? [
              `attribute_not_exists(${slots})`,
              `(attribute_not_exists(${limit}) AND ${slots} <= ${expression.value(defaultLimit - weight)})`,
            ]
          : []),
        ...(weight === 1 ? [`${slots} < ${limit}`] : []),
      ];
    }
    if (room.length === 0) return undefined;
    const lease = expression.name(leaseAttribute(command.streamId));
    const count = expression.name('cnt');
    // A termination of an earlier stream of this id may stay in the ring: it is older than this
    // lease, so it is forgotten (LEASE_SECONDS after it) before this lease can lapse into a 404.
    return this.updateInput(command.userId, expression, {
      condition: `attribute_not_exists(${lease}) AND (${room.join(' OR ')})`,
      set: [
        `${lease} = ${expression.value(leaseToItem(newLease(command, now, this.policy)))}`,
        `${count} = if_not_exists(${count}, ${zero}) + ${one}`,
        `${slots} = if_not_exists(${slots}, ${zero}) + ${expression.value(weight)}`,
        `${weightless} = if_not_exists(${weightless}, ${zero}) + ${weight === 0 ? one : zero}`,
        this.ringIfMissing(expression),
        `${expression.name('ver')} = if_not_exists(${expression.name('ver')}, ${zero}) + ${one}`,
        this.collectAfter(expression, now),
      ],
    });
  }

  /**
   * "Stop that one and watch here" in one write: the replaced lease must be
   * live and the new stream must not be stored; the replaced one's termination
   * goes into the ring. The count does not change, so no limit check applies.
   */
  private fastReplace(command: AddCommand, now: number): UpdateRequest | undefined {
    // Why only weight 1 for weight 1: the slots then stay as they are; other weights need the sums.
    if ((command.weight ?? 1) !== 1) return undefined;
    const expression = new ExpressionBuilder();
    const replaced = expression.name(leaseAttribute(command.replaceStreamId!));
    const lease = expression.name(leaseAttribute(command.streamId));
    const ring = this.pushTermination(expression, replacedTermination(command.replaceStreamId!, command, now));
    return this.updateInput(command.userId, expression, {
      condition: [
        `${replaced}.${expression.name('e')} > ${expression.value(now)}`,
        `${replaced}.${expression.name('w')} = ${expression.value(1)}`,
        `attribute_not_exists(${lease})`,
        ring.condition,
      ].join(' AND '),
      set: [
        `${lease} = ${expression.value(leaseToItem(newLease(command, now, this.policy)))}`,
        ring.set,
        this.bumpVersion(expression),
        this.collectAfter(expression, now),
      ],
      remove: [replaced, ring.remove],
    });
  }

  /**
   * Extends a live lease in one write; used by heartbeats and by retried adds. `mustNotBeLive`
   * names a stream that has to stay not live for the renewal alone to be the right decision.
   */
  private renewWrite(userId: string, streamId: string, now: number, mustNotBeLive?: string): UpdateRequest {
    const expression = new ExpressionBuilder();
    const lease = expression.name(leaseAttribute(streamId));
    const expires = expression.name('e');
    const nowValue = expression.value(now);
    const other = mustNotBeLive === undefined ? undefined : expression.name(leaseAttribute(mustNotBeLive));
    return this.updateInput(userId, expression, {
      // Why: only a lease that has not run out may be extended (an expired one must be added again).
      condition:
        `${lease}.${expires} > ${nowValue}` +
        (other === undefined ? '' : ` AND (attribute_not_exists(${other}) OR ${other}.${expires} <= ${nowValue})`),
      set: [
        `${lease}.${expires} = ${expression.value(now + this.policy.leaseMs)}`,
        this.bumpVersion(expression),
        this.collectAfter(expression, now),
      ],
    });
  }

  /** Ends a live lease in one write, remembering it as removed for its heartbeat's 410. */
  private fastRelease(userId: string, streamId: string, now: number): UpdateRequest {
    const expression = new ExpressionBuilder();
    const lease = expression.name(leaseAttribute(streamId));
    const weight = `${lease}.${expression.name('w')}`;
    const count = expression.name('cnt');
    const slots = expression.name('sl');
    const ring = this.pushTermination(expression, removedTermination(streamId, now));
    return this.updateInput(userId, expression, {
      // Why w > 0: a weight-0 lease is also counted in z, which this write cannot know to decrement.
      condition: `${lease}.${expression.name('e')} > ${expression.value(now)} AND ${weight} > ${expression.value(0)} AND ${ring.condition}`,
      set: [
        ring.set,
        `${count} = ${count} - ${expression.value(1)}`,
        `${slots} = ${slots} - ${weight}`,
        this.bumpVersion(expression),
        this.collectAfter(expression, now),
      ],
      remove: [lease, ring.remove],
    });
  }

  // --- slow path: the rules' whole new state, guarded by the version ----------

  /**
   * Writes the difference between `previous` (as read) and `next` (decided by
   * the rules), on condition that nobody wrote the item in between. Counters
   * are set to the exact sizes, so they cannot drift from the stored leases.
   */
  private versionedWrite(previous: UserState, next: UserState, now: number): UpdateRequest {
    const expression = new ExpressionBuilder();
    const set: string[] = [];
    const remove: string[] = [];
    for (const [streamId, lease] of next.leases) {
      if (previous.leases.get(streamId) !== lease) {
        set.push(`${expression.name(leaseAttribute(streamId))} = ${expression.value(leaseToItem(lease))}`);
      }
    }
    for (const streamId of previous.leases.keys()) {
      if (!next.leases.has(streamId)) remove.push(expression.name(leaseAttribute(streamId)));
    }
    // The whole ring, oldest first (the rules keep at most as many terminations as it has slots).
    const kept = [...next.terminations.values()].slice(-this.policy.maxTerminations).map(terminationToItem);
    const ring = [...emptyRing(this.policy.maxTerminations - kept.length), ...kept];
    const version = expression.name('ver');
    set.push(
      `${expression.name(TERMINATIONS)} = ${expression.value(ring)}`,
      `${expression.name('cnt')} = ${expression.value(next.leases.size)}`,
      `${expression.name('sl')} = ${expression.value(slotsOf(next.leases.values()))}`,
      `${expression.name('z')} = ${expression.value([...next.leases.values()].filter((lease) => lease.weight === 0).length)}`,
      `${version} = ${expression.value(previous.version + 1)}`,
      this.collectAfter(expression, now),
    );
    return this.updateInput(previous.userId, expression, {
      // Why: the rules decided on exactly this version; any other write in between makes us decide again.
      condition: previous.exists
        ? `${version} = ${expression.value(previous.version)}`
        : `attribute_not_exists(${expression.name(PARTITION_KEY)})`,
      set,
      remove,
    });
  }

  // --- pieces ---------------------------------------------------------------

  /**
   * Appends a termination to the ring and drops its first (oldest) slot in the same write, so the
   * ring always holds the newest maxTerminations and a remove never needs a read to make room.
   * Why the size condition: an item from before the ring (or a damaged one) takes the slow path,
   * which rewrites the whole ring.
   */
  private pushTermination(
    expression: ExpressionBuilder,
    termination: Termination,
  ): { condition: string; set: string; remove: string } {
    const ring = expression.name(TERMINATIONS);
    const slots = this.policy.maxTerminations;
    return {
      condition: `size(${ring}) = ${expression.value(slots)}`,
      set: `${ring}[${slots}] = ${expression.value(terminationToItem(termination))}`,
      remove: `${ring}[0]`,
    };
  }

  /** Gives a new item its empty termination ring. */
  private ringIfMissing(expression: ExpressionBuilder): string {
    const ring = expression.name(TERMINATIONS);
    return `${ring} = if_not_exists(${ring}, ${expression.value(emptyRing(this.policy.maxTerminations))})`;
  }

  private bumpVersion(expression: ExpressionBuilder): string {
    return `${expression.name('ver')} = ${expression.name('ver')} + ${expression.value(1)}`;
  }

  /** Moves the TTL past every lease and termination, unless a limit override pins the item. */
  private collectAfter(expression: ExpressionBuilder, now: number): string {
    return `${expression.name(TTL_ATTRIBUTE)} = if_not_exists(${expression.name('pin')}, ${expression.value(this.gcAt(now))})`;
  }

  private gcAt(now: number): number {
    return Math.ceil((now + this.policy.leaseMs) / 1000) + GC_GRACE_SECONDS;
  }

  private updateInput(
    userId: string,
    expression: ExpressionBuilder,
    parts: { condition?: string; set: string[]; remove?: string[] },
  ): UpdateRequest {
    const clauses = [`SET ${parts.set.join(', ')}`];
    if (parts.remove?.length) clauses.push(`REMOVE ${parts.remove.join(', ')}`);
    return {
      TableName: this.table,
      Key: { [PARTITION_KEY]: { S: userId } },
      UpdateExpression: clauses.join(' '),
      ...(parts.condition && { ConditionExpression: parts.condition }),
      ExpressionAttributeNames: expression.names,
      ExpressionAttributeValues: expression.values,
      ReturnValues: 'ALL_NEW',
      // Why: a failed condition hands back the current item, so deciding a 409 or a retry needs no second read.
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      // Why: the write units each call costs, measured by DynamoDB, are a metric (the bill) and pin the bound.
      ReturnConsumedCapacity: 'TOTAL',
    };
  }

  private async update(request: UpdateRequest, deadline: number): Promise<WriteOutcome> {
    const started = performance.now();
    try {
      const answer = await this.dynamo.call('UpdateItem', request, deadline);
      this.report('UpdateItem', started, 'ok', answer);
      return { applied: true, item: fromAttributeMap((answer.Attributes ?? {}) as AttributeMap) };
    } catch (error) {
      if (error instanceof DynamoServiceError && error.name === 'ConditionalCheckFailedException') {
        this.report('UpdateItem', started, 'condition-failed');
        const old = error.answer.Item as AttributeMap | undefined;
        return { applied: false, item: old ? fromAttributeMap(old) : undefined };
      }
      throw this.fault('UpdateItem', started, error);
    }
  }

  private async read(userId: string, deadline: number): Promise<Item | undefined> {
    const started = performance.now();
    try {
      const answer = await this.dynamo.call(
        'GetItem',
        { TableName: this.table, Key: { [PARTITION_KEY]: { S: userId } }, ConsistentRead: true },
        deadline,
      );
      this.report('GetItem', started, 'ok');
      return answer.Item ? fromAttributeMap(answer.Item as AttributeMap) : undefined;
    } catch (error) {
      throw this.fault('GetItem', started, error);
    }
  }

  private fault(operation: StoreCallReport['operation'], started: number, error: unknown): Error {
    const classified = classifyFault(error);
    this.report(operation, started, classified instanceof StoreUnavailable ? classified.kind : 'error');
    return classified;
  }

  private report(
    operation: StoreCallReport['operation'],
    started: number,
    outcome: StoreCallReport['outcome'],
    answer?: Record<string, unknown>,
  ): void {
    const writeUnits = (answer?.ConsumedCapacity as { CapacityUnits?: number } | undefined)?.CapacityUnits;
    try {
      this.onStoreCall({
        operation,
        seconds: (performance.now() - started) / 1000,
        outcome,
        ...(writeUnits !== undefined && { writeUnits }),
      });
    } catch {
      // Metrics must never break a request.
    }
  }

  /** Counts the expired leases an applied versioned write dropped (only the slow path prunes). */
  private reportPruned(previous: UserState, next: UserState, now: number): void {
    let expired = 0;
    for (const [streamId, lease] of previous.leases) if (!next.leases.has(streamId) && !isLive(lease, now)) expired++;
    if (expired === 0) return;
    try {
      this.onLeasesPruned(expired);
    } catch {
      // Metrics must never break a request.
    }
  }
}
