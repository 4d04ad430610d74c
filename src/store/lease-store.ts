import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { storeDisplay, withDisplay, withLiveDisplay, withReplacerDevice } from './display';
import { itemEndpoint } from './dynamo-endpoint';
import { DynamoWire, type DynamoCaller } from './dynamo-wire';
import { ItemCalls, type StoreCallReport, type WriteOutcome } from './item-calls';
import { itemToState, placeDisplay } from './item-codec';
import type { AdmitResult, CheckResult, ReleaseResult, RenewResult } from './results';
import { ensureTable } from './table-bootstrap';
import {
  clearOverridesWrite,
  fastAdmit,
  fastRelease,
  fastReplace,
  overridesWrite,
  renewWrite,
  versionedWrite,
  type WriteContext,
} from './writes';
import type { Config, StoreEndpoint } from '../config';
import { leasePolicy } from '../leases/policy';
import { StoreUnavailable } from '../errors';
import {
  adaptive,
  decideAdd,
  decideCheck,
  decideHeartbeat,
  decideRemove,
  isLive,
  standingOf,
} from '../leases/lease-rules';
import type {
  AddCommand,
  AdmissionPolicy,
  LeasePolicy,
  RemoveCommand,
  Standing,
  StreamRef,
  UserState,
} from '../leases/model';

export { ItemTooLarge } from './faults';
/** Decodes a stored user item (the change feed reads stream images with it). */
export { itemToState } from './item-codec';

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

export type { StoreCallReport } from './item-calls';

export type { AdmitResult, CheckResult, ReleaseResult, RenewResult } from './results';

/** The store a process runs on, from its configuration: the one construction main.ts and lambda.ts share. */
export function leaseStoreFor(
  config: Config,
  endpoint: LeaseStoreOptions['endpoint'],
  hooks: Pick<LeaseStoreOptions, 'onStoreCall' | 'onLeasesPruned'>,
): LeaseStore {
  return new LeaseStore({
    endpoint,
    region: config.region,
    table: config.table,
    timeoutMs: config.timeoutMs,
    policy: leasePolicy(config),
    ...hooks,
  });
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
  /** Every item read and write, timed and reported. */
  private readonly calls: ItemCalls;
  private readonly table: string;
  /** The rules' parameters this store decides with; the routes read them here, so both use one object. */
  readonly policy: LeasePolicy;
  /** The table and policy every write builder needs. */
  private readonly writes: WriteContext;
  private readonly timeoutMs: number;
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
    const dynamo =
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
    this.writes = { table: options.table, policy: options.policy };
    this.timeoutMs = options.timeoutMs;
    this.calls = new ItemCalls(dynamo, options.table, options.onStoreCall ?? (() => undefined));
    this.onLeasesPruned = options.onLeasesPruned ?? (() => undefined);
  }

  /** Admits, renews (retry) or replaces a stream, or reports the live ones when the user is at the limit. */
  async admitStream(input: AddCommand, now: number): Promise<AdmitResult> {
    const deadline = Date.now() + this.timeoutMs;
    const command = placeDisplay(input);
    const fast =
      command.replaceStreamId === undefined
        ? fastAdmit(this.writes, command, now)
        : fastReplace(this.writes, command, now);
    let attempt = fast
      ? await this.calls.update(fast, deadline)
      : { applied: false as const, item: await this.calls.read(command.userId, deadline) };
    if (attempt.applied) {
      const state = itemToState(command.userId, attempt.item);
      const lease = state.leases.get(command.streamId)!;
      await storeDisplay(this.calls, command, lease, deadline);
      return { outcome: 'admitted', lease, standing: standingOf(state, now, this.policy), evicted: [] };
    }
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const state = itemToState(command.userId, attempt.item);
      const decision = decideAdd(state, command, now, this.policy);
      if (decision.outcome === 'rejected') {
        const standing = standingOf(state, now, this.policy);
        const live = await withDisplay(this.calls, command.userId, [...standing.live], deadline).catch(
          withoutDisplay(standing.live),
        );
        return { outcome: 'rejected', standing: { ...standing, live } };
      }
      const stored = state.leases.get(command.streamId);
      const onlyRenews =
        decision.outcome === 'renewed' &&
        !isLive(state.leases.get(command.replaceStreamId ?? ''), now) &&
        // The one-write renewal keeps the lease's term; a changed term takes the versioned write.
        decision.lease.termMs === stored?.termMs &&
        (!adaptive(this.policy) || stored?.termMs !== undefined);
      // A retry only extends its own live lease, which commutes with any other write: no version guard,
      // so many concurrent retries of one stream cost one write each instead of racing for the version.
      // A retried replace renews only while the stream it names is still not live; if that stream
      // was admitted in between, the write fails and the rules decide again (and end it).
      const write = onlyRenews
        ? renewWrite(this.writes, command.userId, command.streamId, now, command.replaceStreamId)
        : versionedWrite(this.writes, state, decision.next, now);
      attempt = await this.calls.update(write, deadline);
      if (attempt.applied && !onlyRenews) this.reportPruned(state, decision.next, now);
      if (attempt.applied) {
        await storeDisplay(this.calls, command, decision.lease, deadline);
        return {
          outcome: decision.outcome,
          lease: decision.lease,
          standing: standingOf(itemToState(command.userId, attempt.item), now, this.policy),
          evicted: await withDisplay(this.calls, command.userId, [...decision.evicted], deadline).catch(
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
    let attempt = await this.calls.update(renewWrite(this.writes, ref.userId, ref.streamId, now), deadline);
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const state = itemToState(ref.userId, attempt.item);
      if (attempt.applied) {
        return {
          outcome: 'renewed',
          lease: state.leases.get(ref.streamId)!,
          standing: standingOf(state, now, this.policy),
        };
      }
      const decision = decideHeartbeat(state, ref, now, this.policy);
      if (decision.outcome === 'not-found') return decision;
      if (decision.outcome === 'terminated') {
        return {
          outcome: 'terminated',
          termination: await withReplacerDevice(this.calls, state, decision.termination, deadline).catch(
            withoutDisplay(decision.termination),
          ),
        };
      }
      // Still live, so the one-write renewal failed on the term alone (adaptive leases: the user's
      // headroom changed since this lease was granted): write the rules' renewal, guarded by the version.
      attempt = await this.calls.update(versionedWrite(this.writes, state, decision.next, now), deadline);
      if (attempt.applied) this.reportPruned(state, decision.next, now);
    }
    throw new StoreUnavailable('error', { cause: new Error(`heartbeat lost ${MAX_ROUNDS} races in a row`) });
  }

  /** Ends a live stream (or, without streamId, the one expiring soonest); idempotent. */
  async releaseStream(command: RemoveCommand, now: number): Promise<ReleaseResult> {
    const deadline = Date.now() + this.timeoutMs;
    let attempt: WriteOutcome =
      command.streamId === undefined
        ? { applied: false, item: await this.calls.read(command.userId, deadline) }
        : await this.calls.update(fastRelease(this.writes, command.userId, command.streamId, now), deadline);
    if (attempt.applied) return this.released(command.streamId!, command.userId, attempt.item, now);
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const state = itemToState(command.userId, attempt.item);
      const decision = decideRemove(state, command, now, this.policy);
      if (decision.outcome === 'absent') return { ...decision, standing: standingOf(state, now, this.policy) };
      attempt = await this.calls.update(versionedWrite(this.writes, state, decision.next, now), deadline);
      if (attempt.applied) this.reportPruned(state, decision.next, now);
      if (attempt.applied) return this.released(decision.streamId, command.userId, attempt.item, now);
    }
    throw new StoreUnavailable('error', { cause: new Error(`release lost ${MAX_ROUNDS} races in a row`) });
  }

  /** What an add of `weight` would do now (POST /streams/check): the same rules on a strongly consistent read, no write. */
  async checkAdmission(userId: string, weight: number, now: number): Promise<CheckResult> {
    const state = await this.readUser(userId, now);
    return { standing: standingOf(state, now, this.policy), ...decideCheck(state, weight, now, this.policy) };
  }

  /** Where the user stands now (GET /users/{userId}/streams): readUser's item, reduced to what the answer shows. */
  async readStanding(userId: string, now: number): Promise<Standing> {
    return standingOf(await this.readUser(userId, now), now, this.policy);
  }

  /** The user's item, strongly consistent, with the live leases' display data (one more read when any is out of line). */
  async readUser(userId: string, now: number): Promise<UserState> {
    const deadline = Date.now() + this.timeoutMs;
    return withLiveDisplay(this.calls, itemToState(userId, await this.calls.read(userId, deadline)), now, deadline);
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
  ): Promise<Standing> {
    const input = overridesWrite(this.writes, userId, overrides);
    const deadline = Date.now() + this.timeoutMs;
    const attempt = await this.calls.update(input, deadline);
    const state = await withLiveDisplay(this.calls, itemToState(userId, attempt.item), now, deadline);
    return standingOf(state, now, this.policy);
  }

  /** Removes the overrides: the user is back on STREAM_LIMIT and STREAM_POLICY, and the item may be garbage-collected again. */
  async clearLimit(userId: string, now: number): Promise<Standing> {
    const input = clearOverridesWrite(this.writes, userId, now);
    const deadline = Date.now() + this.timeoutMs;
    const attempt = await this.calls.update(input, deadline);
    const state = await withLiveDisplay(this.calls, itemToState(userId, attempt.item), now, deadline);
    return standingOf(state, now, this.policy);
  }

  /** Readiness probe: one cheap strongly-consistent read of a key no user can have. */
  async ping(): Promise<void> {
    await this.calls.read('#readyz', Date.now() + this.timeoutMs);
  }

  /**
   * Creates the table (on-demand, TTL on gcAt) if missing. For DynamoDB Local and self-run endpoints only.
   * `stream`: with a NEW_AND_OLD_IMAGES stream, the change log GET /streams/events reads. Off unless asked:
   * DynamoDB Local slows down as stream records accumulate, which would distort tests and benchmarks.
   */
  async ensureTable(options: { stream?: boolean } = {}): Promise<void> {
    await ensureTable(this.client, this.table, options);
  }

  destroy(): void {
    this.client.destroy();
    this.calls.destroy();
  }

  /** A remove that was written: the user as the write left them. */
  private released(streamId: string, userId: string, item: WriteOutcome['item'], now: number): ReleaseResult {
    return { outcome: 'removed', streamId, standing: standingOf(itemToState(userId, item), now, this.policy) };
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
