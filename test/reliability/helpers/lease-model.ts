/*
 * A reference model of the contract's lease semantics, written from
 * CONTRACT.md and deliberately not from src/: a map of live leases with
 * expiresAt per user, terminations remembered for LEASE_SECONDS, and an
 * optional per-user limit. `apply` checks one observed HTTP answer against
 * what the model allows and, when it matches, moves the model forward.
 * Where the contract leaves a choice (which of two leases expiring at the
 * same instant a counter-style remove releases, the id the server generates)
 * the observed answer resolves it, provided it is one of the allowed ones.
 */

export type Op =
  | {
      readonly kind: 'add';
      readonly user: string;
      readonly stream?: string;
      readonly replace?: string;
      readonly device?: string;
    }
  | { readonly kind: 'heartbeat'; readonly user: string; readonly stream: string }
  | { readonly kind: 'remove'; readonly user: string; readonly stream?: string }
  | { readonly kind: 'setLimit'; readonly user: string; readonly limit: number }
  | { readonly kind: 'clearLimit'; readonly user: string };

export interface Observed {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

interface ModelLease {
  readonly startedAt: number;
  expiresAt: number;
}

interface ModelTermination {
  readonly at: number;
  readonly reason: 'removed' | 'replaced';
  readonly replacedBy?: string;
}

interface ModelUser {
  leases: Map<string, ModelLease>;
  terminations: Map<string, ModelTermination>;
  limit?: number;
  /**
   * Lowering a limit never cuts live streams, so right after a lowering the
   * user may hold more than the limit; the count may then only fall. This is
   * the live count when the limit last changed, lowered by every later drop.
   */
  carried: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

export class LeaseModel {
  private users = new Map<string, ModelUser>();

  constructor(
    readonly defaultLimit: number,
    readonly leaseMs: number,
  ) {}

  clone(): LeaseModel {
    const copy = new LeaseModel(this.defaultLimit, this.leaseMs);
    for (const [id, user] of this.users) {
      copy.users.set(id, {
        leases: new Map([...user.leases].map(([s, lease]) => [s, { ...lease }])),
        terminations: new Map(user.terminations),
        ...(user.limit !== undefined && { limit: user.limit }),
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
    user.carried = Math.min(user.carried, user.leases.size);
  }

  limitOf(userId: string): number {
    return this.users.get(userId)?.limit ?? this.defaultLimit;
  }

  /** Live leases at `now`, by streamId. */
  live(userId: string, now: number): Map<string, { startedAt: number; expiresAt: number }> {
    const user = this.user(userId);
    this.prune(user, now);
    return new Map([...user.leases].map(([id, lease]) => [id, { ...lease }]));
  }

  /** The most live streams the user may hold now: the limit, or more only right after a lowering. */
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
        const replaced = op.replace !== undefined ? user.leases.get(op.replace) : undefined;
        const existing = streamId !== undefined ? user.leases.get(streamId) : undefined;
        const limit = this.limitOf(op.user);
        if (!existing && !replaced && user.leases.size >= limit) {
          if (observed.status !== 409 || body.code !== 'STREAM_LIMIT_REACHED')
            return mismatch('409 STREAM_LIMIT_REACHED');
          const listed = Array.isArray(body.streams)
            ? (body.streams as Array<{ streamId?: unknown }>).map((s) => s.streamId).sort()
            : [];
          const expected = [...user.leases.keys()].sort();
          if (
            body.activeStreams !== user.leases.size ||
            body.limit !== limit ||
            JSON.stringify(listed) !== JSON.stringify(expected)
          ) {
            return mismatch(
              `409 listing ${JSON.stringify(expected)}, activeStreams ${user.leases.size}, limit ${limit}`,
            );
          }
          return undefined;
        }
        const expectedStatus = existing ? 200 : 201;
        if (observed.status !== expectedStatus || streamId === undefined) return mismatch(String(expectedStatus));
        if (op.replace !== undefined && replaced) {
          user.leases.delete(op.replace);
          user.terminations.set(op.replace, { at: now, reason: 'replaced', replacedBy: streamId });
        }
        if (existing) {
          existing.expiresAt = now + this.leaseMs;
        } else {
          user.leases.set(streamId, { startedAt: now, expiresAt: now + this.leaseMs });
          // Adding the id of a terminated stream is a new add: its termination is forgotten.
          user.terminations.delete(streamId);
        }
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
        const newer = termination ? [...user.terminations.values()].filter((t) => t !== termination && t.at >= termination.at).length : 0;
        if (termination && newer >= 8 && observed.status === 404) return undefined;
        if (termination) {
          if (observed.status !== 410 || body.code !== 'STREAM_TERMINATED' || body.reason !== termination.reason) {
            return mismatch(`410 STREAM_TERMINATED reason ${termination.reason}`);
          }
          const by = (body.replacedBy as { streamId?: unknown } | undefined)?.streamId;
          if (termination.reason === 'replaced' && by !== termination.replacedBy)
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
          user.terminations.set(target, { at: now, reason: 'removed' });
          user.carried = Math.min(user.carried, user.leases.size);
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
        if (op.kind === 'setLimit') user.limit = op.limit;
        else delete user.limit;
        user.carried = user.leases.size;
        return this.checkListing(op.user, now, observed, mismatch);
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
    if (
      body.userId !== userId ||
      body.streamId !== streamId ||
      body.activeStreams !== user.leases.size ||
      body.limit !== this.limitOf(userId) ||
      body.expiresAt !== iso(lease.expiresAt)
    ) {
      return mismatch(
        `body with streamId ${streamId}, activeStreams ${user.leases.size}, limit ${this.limitOf(userId)}, expiresAt ${iso(lease.expiresAt)}`,
      );
    }
    if (now + this.leaseMs !== lease.expiresAt) return mismatch('a lease renewed to now + LEASE_SECONDS');
    return undefined;
  }

  /** Compares a GET /users/{id}/streams style answer with the model: same live leases, times and limit. */
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
      .map(([streamId, lease]) => ({ streamId, startedAt: iso(lease.startedAt), expiresAt: iso(lease.expiresAt) }))
      .sort((a, b) => a.streamId.localeCompare(b.streamId));
    const streams = Array.isArray(observed.body.streams)
      ? (observed.body.streams as Array<Record<string, unknown>>)
      : [];
    const got = streams
      .map((s) => ({ streamId: s.streamId, startedAt: s.startedAt, expiresAt: s.expiresAt }))
      .sort((a, b) => String(a.streamId).localeCompare(String(b.streamId)));
    if (
      observed.status !== 200 ||
      observed.body.activeStreams !== live.size ||
      observed.body.limit !== this.limitOf(userId) ||
      JSON.stringify(got) !== JSON.stringify(expected)
    ) {
      return fail(`200 listing ${JSON.stringify(expected)} with limit ${this.limitOf(userId)}`);
    }
    const startedOrder = streams.map((s) => String(s.startedAt));
    if (startedOrder.some((value, i) => i > 0 && value < startedOrder[i - 1]!))
      return fail('streams ordered by startedAt');
    return undefined;
  }
}

export function describeOp(op: Op): string {
  switch (op.kind) {
    case 'add':
      return `add(${op.user}, ${op.stream ?? '<generated>'}${op.replace !== undefined ? `, replace ${op.replace}` : ''})`;
    case 'heartbeat':
      return `heartbeat(${op.user}, ${op.stream})`;
    case 'remove':
      return `remove(${op.user}${op.stream !== undefined ? `, ${op.stream}` : ''})`;
    case 'setLimit':
      return `setLimit(${op.user}, ${op.limit})`;
    case 'clearLimit':
      return `clearLimit(${op.user})`;
  }
}
