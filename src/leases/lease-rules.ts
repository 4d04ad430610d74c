import type {
  AddCommand,
  AdmissionPolicy,
  Lease,
  LeasePolicy,
  RemoveCommand,
  Standing,
  StreamRef,
  Termination,
  UserState,
} from './model';

/*
 * The lease rules, as pure functions of (state, command, now). The store runs
 * them on the item it read (or got back from a failed conditional write) and
 * writes the result only if the item is still at the version it read, so each
 * decision is atomic however many service instances race.
 * Expiry is decided here, from the stored expiresAt and the caller's clock;
 * DynamoDB TTL deleting old items is only garbage collection.
 */

export function isLive(lease: Lease | undefined, now: number): lease is Lease {
  return lease !== undefined && lease.expiresAt > now;
}

/**
 * Terminations are remembered for the longest lease a player may hold: LEASE_SECONDS, or
 * LEASE_MAX_SECONDS with adaptive leases, so a kicked player on a long lease still hears 410 at its
 * next heartbeat rather than a 404, which would make it add its stream again.
 */
export function memoryMs(policy: LeasePolicy): number {
  return Math.max(policy.leaseMs, policy.leaseMaxMs);
}

function isRemembered(termination: Termination, now: number, policy: LeasePolicy): boolean {
  return termination.at + memoryMs(policy) > now;
}

export function adaptive(policy: LeasePolicy): boolean {
  return policy.leaseMaxMs > policy.leaseMs;
}

/**
 * Adaptive leases: the term a write grants, from the slots live after it. With at least one free
 * slot the long term (the contract requires it from two free slots and allows it at one); with
 * none, LEASE_SECONDS. A crashed player's slot is thus held at most LEASE_MAX_SECONDS, and only
 * when its last lease was granted while the user had room.
 */
export function termFor(slotsAfter: number, limit: number, policy: LeasePolicy): number {
  return adaptive(policy) && limit - slotsAfter >= 1 ? policy.leaseMaxMs : policy.leaseMs;
}

/** A lease renewed (or granted) at `now` for `termMs`; the term is recorded only with adaptive leases on. */
function renewed(lease: Lease, now: number, termMs: number, policy: LeasePolicy): Lease {
  return { ...lease, expiresAt: now + termMs, ...(adaptive(policy) && { termMs }) };
}

export function effectiveLimit(state: UserState, policy: LeasePolicy): number {
  return state.limitOverride ?? policy.defaultLimit;
}

export function effectivePolicy(state: UserState, policy: LeasePolicy): AdmissionPolicy {
  return state.policyOverride ?? policy.defaultPolicy;
}

/** The slots the given leases take: the sum of their weights. */
export function slotsOf(leases: Iterable<Lease>): number {
  let slots = 0;
  for (const lease of leases) slots += lease.weight;
  return slots;
}

/** Live leases, oldest first (the contract orders lists by startedAt). */
export function liveLeases(state: UserState, now: number): Lease[] {
  return oldestFirst([...state.leases.values()].filter((lease) => isLive(lease, now)));
}

/** Where the user stands at `now`, on this state: the figures every answer about them carries. */
export function standingOf(state: UserState, now: number, policy: LeasePolicy): Standing {
  const live = liveLeases(state, now);
  return {
    userId: state.userId,
    live,
    activeStreams: live.length,
    slotsInUse: slotsOf(live),
    limit: effectiveLimit(state, policy),
    policy: effectivePolicy(state, policy),
  };
}

export function liveTermination(
  state: UserState,
  streamId: string,
  now: number,
  policy: LeasePolicy,
): Termination | undefined {
  const termination = state.terminations.get(streamId);
  return termination && isRemembered(termination, now, policy) ? termination : undefined;
}

/** Drops expired leases and forgotten terminations, and bounds how many terminations are kept. */
function pruned(
  state: UserState,
  now: number,
  policy: LeasePolicy,
): { leases: Map<string, Lease>; terminations: Map<string, Termination> } {
  const leases = new Map([...state.leases].filter(([, lease]) => isLive(lease, now)));
  const terminations = new Map([...state.terminations].filter(([, t]) => isRemembered(t, now, policy)));
  return { leases, terminations };
}

function boundTerminations(terminations: Map<string, Termination>, policy: LeasePolicy): Map<string, Termination> {
  if (terminations.size <= policy.maxTerminations) return terminations;
  // Newest first; among equal times the one set last (the termination this write adds) comes first.
  const newestFirst = [...terminations.values()].reverse().sort((a, b) => b.at - a.at);
  // Kept oldest first, the order the store's termination ring holds them in.
  return new Map(
    newestFirst
      .slice(0, policy.maxTerminations)
      .reverse()
      .map((t) => [t.streamId, t]),
  );
}

function withChanges(
  state: UserState,
  leases: Map<string, Lease>,
  terminations: Map<string, Termination>,
  policy: LeasePolicy,
): UserState {
  return { ...state, leases, terminations: boundTerminations(terminations, policy) };
}

/** The lease an add creates: the rules and the store's one-write fast path both build it here. */
export function newLease(command: AddCommand, now: number, policy: LeasePolicy, termMs = policy.leaseMs): Lease {
  return {
    streamId: command.streamId,
    startedAt: now,
    expiresAt: now + termMs,
    ...(adaptive(policy) && { termMs }),
    weight: command.weight ?? 1,
    ...(command.deviceId !== undefined && { deviceId: command.deviceId }),
    ...(command.metadata !== undefined && { metadata: command.metadata }),
    ...(command.displayRef !== undefined && { displayRef: command.displayRef }),
  };
}

/** Why `streamId` ended: replaced by the add `command` ("stop that one and watch here"), or evicted to make room for it. */
export function replacedTermination(
  streamId: string,
  command: AddCommand,
  now: number,
  reason: 'replaced' | 'evicted' = 'replaced',
): Termination {
  return {
    streamId,
    reason,
    at: now,
    replacedBy: { streamId: command.streamId, ...(command.deviceId !== undefined && { deviceId: command.deviceId }) },
  };
}

/** Why `streamId` ended: removed by a player. */
export function removedTermination(streamId: string, now: number): Termination {
  return { streamId, reason: 'removed', at: now };
}

export type AddDecision =
  | {
      readonly outcome: 'admitted' | 'renewed';
      readonly next: UserState;
      readonly lease: Lease;
      readonly evicted: readonly Lease[];
    }
  | { readonly outcome: 'rejected'; readonly limit: number; readonly live: Lease[] };

/**
 * add: a retry of a live stream renews it (200, no second slot, the weight first admitted); a
 * replace ends replaceStreamId and admits this stream in the same write when the new weight fits
 * in the slots it frees plus the free ones; otherwise admit while the live weights leave room.
 * A full user's add is refused under block-new; under evict-oldest the oldest weighted streams
 * are ended until it fits (never a stream heavier than the limit, never weight-0 streams).
 * Weight 0 takes no slot: it is refused only past maxWeightlessStreams live ones.
 */
export function decideAdd(state: UserState, command: AddCommand, now: number, policy: LeasePolicy): AddDecision {
  const { leases, terminations } = pruned(state, now, policy);
  const existing = leases.get(command.streamId);
  const replaced = command.replaceStreamId === undefined ? undefined : leases.get(command.replaceStreamId);
  const limit = effectiveLimit(state, policy);
  // The free slots before this add; a lowered limit can leave a user above it (no free slot).
  let room = Math.max(0, limit - slotsOf(leases.values()));
  const end = (lease: Lease, termination: Termination) => {
    leases.delete(lease.streamId);
    terminations.delete(lease.streamId);
    terminations.set(lease.streamId, termination);
  };

  if (replaced) {
    // "Stop that one and watch here": the replaced stream's heartbeat will answer 410 naming this one.
    end(replaced, replacedTermination(replaced.streamId, command, now));
    room += replaced.weight;
  }

  if (existing) {
    const lease = renewed(existing, now, termFor(slotsOf(leases.values()), limit, policy), policy);
    leases.set(lease.streamId, lease);
    return { outcome: 'renewed', next: withChanges(state, leases, terminations, policy), lease, evicted: [] };
  }

  const rejected = (): AddDecision => ({ outcome: 'rejected', limit, live: liveLeases(state, now) });
  const weight = command.weight ?? 1;
  const evicted: Lease[] = [];
  if (weight === 0) {
    const weightless = [...leases.values()].filter((lease) => lease.weight === 0).length;
    if (weightless >= policy.maxWeightlessStreams) return rejected();
  } else if (weight > room) {
    if (weight > limit || effectivePolicy(state, policy) !== 'evict-oldest') return rejected();
    for (const victim of oldestFirst(leases.values())) {
      if (room >= weight) break;
      if (victim.weight === 0) continue;
      end(victim, replacedTermination(victim.streamId, command, now, 'evicted'));
      evicted.push(victim);
      room += victim.weight;
    }
    // Every weighted stream can go and the new one is no heavier than the limit, but a lowered
    // limit below the slots of what is left still means no room.
    if (room < weight) return rejected();
  }
  const lease = newLease(command, now, policy, termFor(slotsOf(leases.values()) + weight, limit, policy));
  leases.set(lease.streamId, lease);
  // Adding the id of a terminated stream is a new add: its termination is forgotten.
  terminations.delete(lease.streamId);
  return { outcome: 'admitted', next: withChanges(state, leases, terminations, policy), lease, evicted };
}

export interface CheckDecision {
  readonly allowed: boolean;
  /** The streams an add of that weight would end now (evict-oldest only). */
  readonly wouldEvict: readonly Lease[];
}

/** check: what an add of `weight` would do now, decided by the same rules, writing nothing. */
export function decideCheck(state: UserState, weight: number, now: number, policy: LeasePolicy): CheckDecision {
  // An id no stream can have (outside the streamId charset), so the answer is never "a retry".
  const decision = decideAdd(state, { userId: state.userId, streamId: '#check', weight }, now, policy);
  if (decision.outcome === 'rejected') return { allowed: false, wouldEvict: [] };
  return { allowed: true, wouldEvict: decision.evicted };
}

function oldestFirst(leases: Iterable<Lease>): Lease[] {
  return [...leases].sort((a, b) => a.startedAt - b.startedAt || a.streamId.localeCompare(b.streamId));
}

export type HeartbeatDecision =
  | { readonly outcome: 'renewed'; readonly lease: Lease; readonly next: UserState }
  | { readonly outcome: 'not-found' }
  | { readonly outcome: 'terminated'; readonly termination: Termination };

/** heartbeat: only a live lease is renewed (for the term the user's headroom allows); a recently ended one answers 410, anything else 404. */
export function decideHeartbeat(
  state: UserState,
  command: StreamRef,
  now: number,
  policy: LeasePolicy,
): HeartbeatDecision {
  const lease = state.leases.get(command.streamId);
  if (lease && isLive(lease, now)) {
    const { leases, terminations } = pruned(state, now, policy);
    const next = renewed(lease, now, termFor(slotsOf(leases.values()), effectiveLimit(state, policy), policy), policy);
    leases.set(next.streamId, next);
    return { outcome: 'renewed', lease: next, next: withChanges(state, leases, terminations, policy) };
  }
  const termination = liveTermination(state, command.streamId, now, policy);
  return termination ? { outcome: 'terminated', termination } : { outcome: 'not-found' };
}

export type RemoveDecision =
  | { readonly outcome: 'removed'; readonly streamId: string; readonly next: UserState }
  | { readonly outcome: 'absent'; readonly streamId: string | null };

/** The live lease that runs out first: what a counter-style remove (no streamId) releases. */
export function soonestExpiring(state: UserState, now: number): Lease | undefined {
  return liveLeases(state, now).sort((a, b) => a.expiresAt - b.expiresAt || a.startedAt - b.startedAt)[0];
}

/** remove: ends a live stream and remembers why for its heartbeat; idempotent. */
export function decideRemove(
  state: UserState,
  command: RemoveCommand,
  now: number,
  policy: LeasePolicy,
): RemoveDecision {
  const target = command.streamId === undefined ? soonestExpiring(state, now) : state.leases.get(command.streamId);
  if (!target || !isLive(target, now)) return { outcome: 'absent', streamId: command.streamId ?? null };
  const { leases, terminations } = pruned(state, now, policy);
  leases.delete(target.streamId);
  terminations.delete(target.streamId);
  terminations.set(target.streamId, removedTermination(target.streamId, now));
  return { outcome: 'removed', streamId: target.streamId, next: withChanges(state, leases, terminations, policy) };
}
