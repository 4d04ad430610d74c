/*
 * A reference model of the contract's lease semantics, written from
 * CONTRACT.md and deliberately not from src/: a map of live leases with
 * expiresAt and weight per user, terminations remembered for LEASE_SECONDS,
 * and an optional per-user limit and admission policy. `apply` checks one
 * observed HTTP answer against what the model allows and, when it matches,
 * moves the model forward.
 * Where the contract leaves a choice (which of two leases expiring at the
 * same instant a counter-style remove releases, which of several streams
 * started at the same instant is "the oldest" an add evicts, the id the
 * server generates) the observed answer resolves it, provided it is one of
 * the allowed ones.
 */

export type Policy = 'block-new' | 'evict-oldest';

export type Op =
  | {
      readonly kind: 'add';
      readonly user: string;
      readonly stream?: string;
      readonly replace?: string;
      readonly device?: string;
      /** Sent as `weight`; absent means the contract's default, 1. */
      readonly weight?: number;
    }
  | { readonly kind: 'heartbeat'; readonly user: string; readonly stream: string }
  | { readonly kind: 'remove'; readonly user: string; readonly stream?: string }
  | { readonly kind: 'setLimit'; readonly user: string; readonly limit?: number; readonly policy?: Policy }
  | { readonly kind: 'clearLimit'; readonly user: string }
  | { readonly kind: 'check'; readonly user: string; readonly weight?: number };

export interface Observed {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

interface ModelLease {
  readonly startedAt: number;
  expiresAt: number;
  /** Fixed by the first admission: a retried add keeps it. */
  readonly weight: number;
}

interface ModelTermination {
  readonly at: number;
  readonly reason: 'removed' | 'replaced' | 'evicted';
  readonly replacedBy?: string;
}

interface ModelUser {
  leases: Map<string, ModelLease>;
  terminations: Map<string, ModelTermination>;
  limit?: number;
  policy?: Policy;
  /**
   * Lowering a limit never cuts live streams, so right after a lowering the
   * user may hold more slots than the limit; they may then only fall. This is
   * the slots in use when the limit last changed, lowered by every later drop.
   */
  carried: number;
}

/** The contract's bound on a user's live weight-0 streams. */
export const MAX_WEIGHTLESS = 10;

const iso = (ms: number) => new Date(ms).toISOString();
const slotsOf = (leases: Iterable<{ weight: number }>) => [...leases].reduce((sum, lease) => sum + lease.weight, 0);

/** The stream ids an answer names in `evicted` / `wouldEvict`, or undefined when the field is malformed. */
function namedStreams(value: unknown): string[] | undefined {
  if (value === undefined) return [];
  if (!Array.isArray(value)) return undefined;
  const ids = value.map((entry) => (entry as { streamId?: unknown } | null)?.streamId);
  return ids.every((id): id is string => typeof id === 'string') ? ids : undefined;
}

export class LeaseModel {
  private users = new Map<string, ModelUser>();

  constructor(
    readonly defaultLimit: number,
    readonly leaseMs: number,
    readonly defaultPolicy: Policy = 'block-new',
  ) {}

  clone(): LeaseModel {
    const copy = new LeaseModel(this.defaultLimit, this.leaseMs, this.defaultPolicy);
    for (const [id, user] of this.users) {
      copy.users.set(id, {
        leases: new Map([...user.leases].map(([s, lease]) => [s, { ...lease }])),
        terminations: new Map(user.terminations),
        ...(user.limit !== undefined && { limit: user.limit }),
        ...(user.policy !== undefined && { policy: user.policy }),
        carried: user.carried,
      });
    }
    return copy;
  }

  private user(id: string): ModelUser {
    let user = this.users.get(id);
    if (!user) {
      user = { leases: new Map(), terminations: new Map(), carried: 0 };
      this.users.set(id, user);
    }
    return user;
  }

  /** Forgets what no longer matters at `now`: expired leases, terminations older than LEASE_SECONDS. */
  private prune(user: ModelUser, now: number): void {
    for (const [id, lease] of user.leases) if (!(lease.expiresAt > now)) user.leases.delete(id);
    for (const [id, t] of user.terminations) if (!(t.at + this.leaseMs > now)) user.terminations.delete(id);
    this.settle(user);
  }

  /** After a drop in slots the carried ceiling falls with them. */
  private settle(user: ModelUser): void {
    user.carried = Math.min(user.carried, slotsOf(user.leases.values()));
  }

  limitOf(userId: string): number {
    return this.users.get(userId)?.limit ?? this.defaultLimit;
  }

  policyOf(userId: string): Policy {
    return this.users.get(userId)?.policy ?? this.defaultPolicy;
  }

  /** Live leases at `now`, by streamId. */
  live(userId: string, now: number): Map<string, { startedAt: number; expiresAt: number; weight: number }> {
    const user = this.user(userId);
    this.prune(user, now);
    return new Map([...user.leases].map(([id, lease]) => [id, { ...lease }]));
  }

  /** The most slots the user may hold now: the limit, or more only right after a lowering. */
  ceiling(userId: string, now: number): number {
    const user = this.user(userId);
    this.prune(user, now);
    return Math.max(this.limitOf(userId), user.carried);
  }

  /** Earliest future expiry or termination end of any user, for clock moves onto a boundary. */
  nextBoundary(now: number): number | undefined {
    let best: number | undefined;
    for (const user of this.users.values()) {
      for (const lease of user.leases.values())
        if (lease.expiresAt > now && (best === undefined || lease.expiresAt < best)) best = lease.expiresAt;
      for (const t of user.terminations.values()) {
        const end = t.at + this.leaseMs;
        if (end > now && (best === undefined || end < best)) best = end;
      }
    }
    return best;
  }

  /**
   * What a new stream of `weight` meets: admitted as is, admitted by evicting (under evict-oldest),
   * or refused. `replaced` is the live stream a replace ends in the same write: its slots count as
   * free, and it is not the other streams' to evict.
   */
  private admission(
    userId: string,
    user: ModelUser,
    weight: number,
    replaced: string | undefined,
  ): 'fits' | 'evicts' | 'refused' {
    const others = [...user.leases].filter(([id]) => id !== replaced).map(([, lease]) => lease);
    if (weight === 0) {
      // Weight 0 is never refused for lack of slots, only past the bound on live weight-0 streams.
      return others.filter((lease) => lease.weight === 0).length >= MAX_WEIGHTLESS ? 'refused' : 'fits';
    }
    const limit = this.limitOf(userId);
    // A replace fits in the slots the replaced stream frees plus the free ones.
    const free =
      Math.max(0, limit - slotsOf(user.leases.values())) + (replaced ? user.leases.get(replaced)!.weight : 0);
    if (weight <= free) return 'fits';
    // Under evict-oldest a full user's add is not refused, unless the stream is heavier than the limit.
    if (this.policyOf(userId) === 'evict-oldest' && weight <= limit) return 'evicts';
    return 'refused';
  }

  /**
   * Whether `chosen` is a set of streams the contract lets an add of `weight` end: live weighted
   * streams, the oldest by startedAt (any order among equal startedAt), and no more than needed.
   * "Enough room" has two readings when a lowered limit leaves the user above it: the free slots
   * (none) plus what the evictions free, as for a replace, or the slots in use after the add back
   * within the limit. Either is accepted; in every other case they agree.
   */
  private evictionProblem(
    user: ModelUser,
    userId: string,
    weight: number,
    replaced: string | undefined,
    chosen: string[],
  ): string | undefined {
    if (new Set(chosen).size !== chosen.length) return 'the same stream named twice';
    const candidates = new Map([...user.leases].filter(([id, lease]) => id !== replaced && lease.weight > 0));
    const victims = chosen.map((id) => candidates.get(id));
    if (victims.some((lease) => lease === undefined)) return 'a stream that is not a live weighted stream of the user';
    const evicted = victims as ModelLease[];
    const kept = [...candidates].filter(([id]) => !chosen.includes(id)).map(([, lease]) => lease);
    const newestEvicted = Math.max(...evicted.map((lease) => lease.startedAt));
    if (kept.some((lease) => lease.startedAt < newestEvicted)) return 'not the oldest streams';
    const limit = this.limitOf(userId);
    const slots = slotsOf(user.leases.values());
    const replacedWeight = replaced ? user.leases.get(replaced)!.weight : 0;
    const readings = [
      (freed: number) => Math.max(0, limit - slots) + replacedWeight + freed >= weight,
      (freed: number) => slots - replacedWeight - freed + weight <= limit,
    ];
    const freed = slotsOf(evicted);
    // The last stream the add ended is one of the newest it ended; without it the add must not have fitted.
    const last = Math.max(...evicted.filter((lease) => lease.startedAt === newestEvicted).map((lease) => lease.weight));
    if (!readings.some((fits) => fits(freed) && !fits(freed - last))) return 'not the fewest streams that make room';
    return undefined;
  }

  /**
   * Checks `observed` against the model for `op` at `now`. Returns undefined
   * and applies the op when the answer is one the contract allows, else a
   * description of the mismatch (and leaves the model in an unspecified state:
   * callers that explore alternatives apply to a clone).
   */
  apply(op: Op, now: number, observed: Observed): string | undefined {
    const user = this.user(op.user);
    this.prune(user, now);
    const body = observed.body;
    const mismatch = (expected: string) =>
      `${describeOp(op)} at t=${now}: expected ${expected}, got ${observed.status} ${JSON.stringify(body)}`;

    switch (op.kind) {
      case 'add': {
        const streamId = op.stream ?? (typeof body.streamId === 'string' ? body.streamId : undefined);
        if (
          op.stream === undefined &&
          observed.status < 300 &&
          (streamId === undefined || user.leases.has(streamId) || user.terminations.has(streamId))
        ) {
          return mismatch('a new server-generated streamId');
        }
        const replaced = op.replace !== undefined && user.leases.has(op.replace) ? op.replace : undefined;
        const existing = streamId !== undefined ? user.leases.get(streamId) : undefined;
        const weight = op.weight ?? 1;
        // A retry renews whatever the request's weight: it keeps the weight first admitted.
        const admission = existing ? 'fits' : this.admission(op.user, user, weight, replaced);
        if (admission === 'refused') {
          if (observed.status !== 409 || body.code !== 'STREAM_LIMIT_REACHED')
            return mismatch('409 STREAM_LIMIT_REACHED');
          const listed = Array.isArray(body.streams)
            ? (body.streams as Array<{ streamId?: unknown }>).map((s) => s.streamId).sort()
            : [];
          const expected = [...user.leases.keys()].sort();
          if (
            body.activeStreams !== user.leases.size ||
            body.limit !== this.limitOf(op.user) ||
            JSON.stringify(listed) !== JSON.stringify(expected)
          ) {
            return mismatch(
              `409 listing ${JSON.stringify(expected)}, activeStreams ${user.leases.size}, limit ${this.limitOf(op.user)}`,
            );
          }
          return undefined;
        }
        const expectedStatus = existing ? 200 : 201;
        if (observed.status !== expectedStatus || streamId === undefined) return mismatch(String(expectedStatus));
        const evicted = namedStreams(body.evicted);
        if (evicted === undefined) return mismatch('evicted as a list of { streamId }');
        if (admission === 'evicts') {
          const problem = this.evictionProblem(user, op.user, weight, replaced, evicted);
          if (problem) return mismatch(`evicted naming the oldest streams that make room (${problem})`);
        } else if (evicted.length > 0) {
          return mismatch(existing ? 'a retry that evicts nothing' : 'an add with room that evicts nothing');
        }
        if (replaced !== undefined) {
          user.leases.delete(replaced);
          user.terminations.delete(replaced);
          user.terminations.set(replaced, { at: now, reason: 'replaced', replacedBy: streamId });
        }
        for (const victim of evicted) {
          user.leases.delete(victim);
          user.terminations.delete(victim);
          user.terminations.set(victim, { at: now, reason: 'evicted', replacedBy: streamId });
        }
        if (existing) {
          existing.expiresAt = now + this.leaseMs;
        } else {
          user.leases.set(streamId, { startedAt: now, expiresAt: now + this.leaseMs, weight });
          // Adding the id of a terminated stream is a new add: its termination is forgotten.
          user.terminations.delete(streamId);
        }
        this.settle(user);
        return this.checkLeaseBody(op.user, streamId, now, body, mismatch);
      }
      case 'heartbeat': {
        const lease = user.leases.get(op.stream);
        if (lease) {
          if (observed.status !== 200) return mismatch('200');
          lease.expiresAt = now + this.leaseMs;
          return this.checkLeaseBody(op.user, op.stream, now, body, mismatch);
        }
        const termination = user.terminations.get(op.stream);
        // The contract remembers at least the 8 most recent terminations; an older one may answer 404.
        const newer = termination
          ? [...user.terminations.values()].filter((t) => t !== termination && t.at >= termination.at).length
          : 0;
        if (termination && newer >= 8 && observed.status === 404) return undefined;
        if (termination) {
          if (observed.status !== 410 || body.code !== 'STREAM_TERMINATED' || body.reason !== termination.reason) {
            return mismatch(`410 STREAM_TERMINATED reason ${termination.reason}`);
          }
          const by = (body.replacedBy as { streamId?: unknown } | undefined)?.streamId;
          if (termination.reason !== 'removed' && by !== termination.replacedBy)
            return mismatch(`410 replacedBy ${termination.replacedBy}`);
          return undefined;
        }
        if (observed.status !== 404 || body.code !== 'STREAM_NOT_FOUND') return mismatch('404 STREAM_NOT_FOUND');
        return undefined;
      }
      case 'remove': {
        let target: string | undefined;
        if (op.stream !== undefined) {
          target = user.leases.has(op.stream) ? op.stream : undefined;
        } else if (user.leases.size > 0) {
          // Counter-style remove: the lease expiring soonest; any of several expiring at the same instant.
          const soonest = Math.min(...[...user.leases.values()].map((lease) => lease.expiresAt));
          const candidates = [...user.leases].filter(([, lease]) => lease.expiresAt === soonest).map(([id]) => id);
          if (typeof body.streamId !== 'string' || !candidates.includes(body.streamId)) {
            return mismatch(`200 removing one of ${JSON.stringify(candidates)}`);
          }
          target = body.streamId;
        }
        if (target !== undefined) {
          user.leases.delete(target);
          user.terminations.delete(target);
          user.terminations.set(target, { at: now, reason: 'removed' });
          this.settle(user);
        }
        const expectedStreamId = target ?? op.stream ?? null;
        if (
          observed.status !== 200 ||
          body.removed !== (target !== undefined) ||
          body.streamId !== expectedStreamId ||
          body.activeStreams !== user.leases.size ||
          body.limit !== this.limitOf(op.user)
        ) {
          return mismatch(
            `200 removed ${target !== undefined} streamId ${JSON.stringify(expectedStreamId)} activeStreams ${user.leases.size}`,
          );
        }
        return undefined;
      }
      case 'setLimit':
      case 'clearLimit': {
        if (op.kind === 'setLimit') {
          if (op.limit !== undefined) user.limit = op.limit;
          if (op.policy !== undefined) user.policy = op.policy;
        } else {
          // DELETE returns both the limit and the policy to the defaults.
          delete user.limit;
          delete user.policy;
        }
        user.carried = slotsOf(user.leases.values());
        return this.checkListing(op.user, now, observed, mismatch);
      }
      case 'check': {
        const weight = op.weight ?? 1;
        const admission = this.admission(op.user, user, weight, undefined);
        const wouldEvict = namedStreams(body.wouldEvict);
        const listed = this.checkListing(op.user, now, observed, mismatch);
        if (listed) return listed;
        if (body.allowed !== (admission !== 'refused')) return mismatch(`allowed ${admission !== 'refused'}`);
        if (wouldEvict === undefined) return mismatch('wouldEvict as a list of { streamId }');
        if (admission === 'evicts') {
          const problem = this.evictionProblem(user, op.user, weight, undefined, wouldEvict);
          if (problem) return mismatch(`wouldEvict naming the oldest streams that make room (${problem})`);
        } else if (wouldEvict.length > 0) {
          return mismatch('wouldEvict naming nothing');
        }
        // A check takes no slot and writes nothing: the model stays as it is.
        return undefined;
      }
    }
  }

  private checkLeaseBody(
    userId: string,
    streamId: string,
    now: number,
    body: Record<string, unknown>,
    mismatch: (expected: string) => string,
  ): string | undefined {
    const user = this.user(userId);
    const lease = user.leases.get(streamId)!;
    const slots = slotsOf(user.leases.values());
    if (
      body.userId !== userId ||
      body.streamId !== streamId ||
      body.activeStreams !== user.leases.size ||
      body.slotsInUse !== slots ||
      body.limit !== this.limitOf(userId) ||
      body.policy !== this.policyOf(userId) ||
      body.expiresAt !== iso(lease.expiresAt) ||
      body.degraded !== undefined
    ) {
      return mismatch(
        `body with streamId ${streamId}, activeStreams ${user.leases.size}, slotsInUse ${slots}, limit ${this.limitOf(userId)}, ` +
          `policy ${this.policyOf(userId)}, expiresAt ${iso(lease.expiresAt)}, not degraded`,
      );
    }
    if (now + this.leaseMs !== lease.expiresAt) return mismatch('a lease renewed to now + LEASE_SECONDS');
    return undefined;
  }

  /**
   * Compares a GET /users/{id}/streams style answer (also the limit routes' and check's) with the
   * model: same live leases, times and weights, slotsInUse, limit and policy.
   */
  checkListing(
    userId: string,
    now: number,
    observed: Observed,
    mismatch?: (expected: string) => string,
  ): string | undefined {
    const fail =
      mismatch ??
      ((expected: string) =>
        `listing of ${userId} at t=${now}: expected ${expected}, got ${observed.status} ${JSON.stringify(observed.body)}`);
    const live = this.live(userId, now);
    const expected = [...live]
      .map(([streamId, lease]) => ({
        streamId,
        weight: lease.weight,
        startedAt: iso(lease.startedAt),
        expiresAt: iso(lease.expiresAt),
      }))
      .sort((a, b) => a.streamId.localeCompare(b.streamId));
    const streams = Array.isArray(observed.body.streams)
      ? (observed.body.streams as Array<Record<string, unknown>>)
      : [];
    const got = streams
      .map((s) => ({ streamId: s.streamId, weight: s.weight, startedAt: s.startedAt, expiresAt: s.expiresAt }))
      .sort((a, b) => String(a.streamId).localeCompare(String(b.streamId)));
    const slots = slotsOf(live.values());
    if (
      observed.status !== 200 ||
      observed.body.activeStreams !== live.size ||
      observed.body.slotsInUse !== slots ||
      observed.body.limit !== this.limitOf(userId) ||
      observed.body.policy !== this.policyOf(userId) ||
      JSON.stringify(got) !== JSON.stringify(expected)
    ) {
      return fail(
        `200 listing ${JSON.stringify(expected)}, slotsInUse ${slots}, limit ${this.limitOf(userId)}, policy ${this.policyOf(userId)}`,
      );
    }
    const startedOrder = streams.map((s) => String(s.startedAt));
    if (startedOrder.some((value, i) => i > 0 && value < startedOrder[i - 1]!))
      return fail('streams ordered by startedAt');
    return undefined;
  }
}

export function describeOp(op: Op): string {
  const weight = (w: number | undefined) => (w !== undefined ? `, weight ${w}` : '');
  switch (op.kind) {
    case 'add':
      return `add(${op.user}, ${op.stream ?? '<generated>'}${op.replace !== undefined ? `, replace ${op.replace}` : ''}${weight(op.weight)})`;
    case 'heartbeat':
      return `heartbeat(${op.user}, ${op.stream})`;
    case 'remove':
      return `remove(${op.user}${op.stream !== undefined ? `, ${op.stream}` : ''})`;
    case 'setLimit':
      return `setLimit(${op.user}${op.limit !== undefined ? `, limit ${op.limit}` : ''}${op.policy !== undefined ? `, ${op.policy}` : ''})`;
    case 'clearLimit':
      return `clearLimit(${op.user})`;
    case 'check':
      return `check(${op.user}${weight(op.weight)})`;
  }
}
