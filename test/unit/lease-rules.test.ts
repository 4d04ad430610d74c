import {
  decideAdd,
  decideCheck,
  decideHeartbeat,
  decideRemove,
  liveLeases,
  standingOf,
  termFor,
} from '../../src/leases/lease-rules';
import { emptyState, type Lease, type LeasePolicy, type Termination, type UserState } from '../../src/leases/model';

const policy: LeasePolicy = {
  defaultLimit: 3,
  defaultPolicy: 'block-new',
  maxWeightlessStreams: 10,
  leaseMs: 90_000,
  leaseMaxMs: 90_000,
  maxTerminations: 4,
};
const evicting: LeasePolicy = { ...policy, defaultPolicy: 'evict-oldest' };
const NOW = 1_800_000_000_000;

function lease(streamId: string, startedAt: number, expiresAt = startedAt + policy.leaseMs, weight = 1): Lease {
  return { streamId, startedAt, expiresAt, weight };
}

const weighted = (streamId: string, startedAt: number, weight: number) => lease(streamId, startedAt, undefined, weight);

function state(leases: Lease[], terminations: Termination[] = [], extra: Partial<UserState> = {}): UserState {
  return {
    userId: 'u',
    exists: true,
    version: 7,
    leases: new Map(leases.map((l) => [l.streamId, l])),
    terminations: new Map(terminations.map((t) => [t.streamId, t])),
    ...extra,
  };
}

describe('decideAdd', () => {
  it('admits a first stream for a new user with a full lease', () => {
    const decision = decideAdd(emptyState('u'), { userId: 'u', streamId: 's1', deviceId: 'tv' }, NOW, policy);
    expect(decision.outcome).toBe('admitted');
    if (decision.outcome !== 'admitted') return;
    expect(decision.lease).toEqual({
      streamId: 's1',
      startedAt: NOW,
      expiresAt: NOW + 90_000,
      weight: 1,
      deviceId: 'tv',
    });
    expect([...decision.next.leases.keys()]).toEqual(['s1']);
  });

  it('refuses a 4th live stream and lists the live ones oldest first', () => {
    const current = state([lease('c', NOW - 10), lease('a', NOW - 30), lease('b', NOW - 20)]);
    const decision = decideAdd(current, { userId: 'u', streamId: 'd' }, NOW, policy);
    expect(decision).toMatchObject({ outcome: 'rejected', limit: 3 });
    if (decision.outcome !== 'rejected') return;
    expect(decision.live.map((l) => l.streamId)).toEqual(['a', 'b', 'c']);
  });

  it('counts a crashed player out as soon as its lease runs out, and prunes it', () => {
    const current = state([lease('a', NOW - 100_000), lease('b', NOW - 10), lease('c', NOW - 5)]);
    const decision = decideAdd(current, { userId: 'u', streamId: 'd' }, NOW, policy);
    expect(decision.outcome).toBe('admitted');
    if (decision.outcome !== 'admitted') return;
    expect([...decision.next.leases.keys()].sort()).toEqual(['b', 'c', 'd']);
  });

  it('treats a lease expiring exactly now as gone', () => {
    const current = state([lease('a', NOW - 90_000, NOW), lease('b', NOW - 10), lease('c', NOW - 5)]);
    expect(decideAdd(current, { userId: 'u', streamId: 'd' }, NOW, policy).outcome).toBe('admitted');
  });

  it('renews a retried add without taking a second slot, even at the limit', () => {
    const current = state([lease('a', NOW - 30), lease('b', NOW - 20), lease('c', NOW - 10)]);
    const decision = decideAdd(current, { userId: 'u', streamId: 'b' }, NOW, policy);
    expect(decision.outcome).toBe('renewed');
    if (decision.outcome !== 'renewed') return;
    expect(decision.lease).toEqual({ streamId: 'b', startedAt: NOW - 20, expiresAt: NOW + 90_000, weight: 1 });
    expect(decision.next.leases.size).toBe(3);
  });

  it('re-admits an expired stream id as a new lease', () => {
    const current = state([lease('a', NOW - 200_000)]);
    const decision = decideAdd(current, { userId: 'u', streamId: 'a' }, NOW, policy);
    expect(decision).toMatchObject({ outcome: 'admitted', lease: { startedAt: NOW } });
  });

  it('replaces a live stream at the limit in one decision and remembers who replaced it', () => {
    const current = state([lease('a', NOW - 30), lease('b', NOW - 20), lease('c', NOW - 10)]);
    const decision = decideAdd(
      current,
      { userId: 'u', streamId: 'd', deviceId: 'phone', replaceStreamId: 'a' },
      NOW,
      policy,
    );
    expect(decision.outcome).toBe('admitted');
    if (decision.outcome !== 'admitted') return;
    expect([...decision.next.leases.keys()].sort()).toEqual(['b', 'c', 'd']);
    expect(decision.next.terminations.get('a')).toEqual({
      streamId: 'a',
      reason: 'replaced',
      at: NOW,
      replacedBy: { streamId: 'd', deviceId: 'phone' },
    });
  });

  it('allows a replace when a lowered limit leaves the user above it', () => {
    const current = state([lease('a', NOW - 30), lease('b', NOW - 20), lease('c', NOW - 10)], [], { limitOverride: 1 });
    expect(decideAdd(current, { userId: 'u', streamId: 'd', replaceStreamId: 'a' }, NOW, policy).outcome).toBe(
      'admitted',
    );
    expect(decideAdd(current, { userId: 'u', streamId: 'e' }, NOW, policy)).toMatchObject({
      outcome: 'rejected',
      limit: 1,
    });
  });

  it('falls back to a plain add when the stream to replace is not live', () => {
    const full = state([lease('a', NOW - 30), lease('b', NOW - 20), lease('c', NOW - 10)]);
    expect(decideAdd(full, { userId: 'u', streamId: 'd', replaceStreamId: 'zzz' }, NOW, policy).outcome).toBe(
      'rejected',
    );
    const roomy = state([lease('a', NOW - 30)]);
    expect(decideAdd(roomy, { userId: 'u', streamId: 'd', replaceStreamId: 'zzz' }, NOW, policy).outcome).toBe(
      'admitted',
    );
  });

  it('renews a retried replace and keeps the replaced stream terminated', () => {
    const replaced: Termination = { streamId: 'a', reason: 'replaced', at: NOW - 1000, replacedBy: { streamId: 'd' } };
    const current = state([lease('b', NOW - 20), lease('c', NOW - 10), lease('d', NOW - 1000)], [replaced]);
    const decision = decideAdd(current, { userId: 'u', streamId: 'd', replaceStreamId: 'a' }, NOW, policy);
    expect(decision.outcome).toBe('renewed');
    if (decision.outcome !== 'renewed') return;
    expect(decision.next.terminations.get('a')).toBe(replaced);
  });

  it('forgets the termination of a stream id that is added again', () => {
    const current = state([], [{ streamId: 'a', reason: 'removed', at: NOW - 10 }]);
    const decision = decideAdd(current, { userId: 'u', streamId: 'a' }, NOW, policy);
    expect(decision.outcome).toBe('admitted');
    if (decision.outcome !== 'admitted') return;
    expect(decision.next.terminations.has('a')).toBe(false);
  });

  it('admits nothing for a limit of 0', () => {
    const decision = decideAdd(emptyState('u'), { userId: 'u', streamId: 'a' }, NOW, { ...policy, defaultLimit: 0 });
    expect(decision).toMatchObject({ outcome: 'rejected', limit: 0, live: [] });
  });
});

describe('decideHeartbeat', () => {
  it('renews a live lease by a full lease from now', () => {
    const decision = decideHeartbeat(state([lease('a', NOW - 30)]), { userId: 'u', streamId: 'a' }, NOW, policy);
    expect(decision).toMatchObject({
      outcome: 'renewed',
      lease: { streamId: 'a', startedAt: NOW - 30, expiresAt: NOW + 90_000, weight: 1 },
    });
  });

  it('answers not-found for an expired lease, so the player may add again', () => {
    expect(
      decideHeartbeat(state([lease('a', NOW - 100_000)]), { userId: 'u', streamId: 'a' }, NOW, policy).outcome,
    ).toBe('not-found');
  });

  it('answers terminated for a stream removed within the lease, and not-found after', () => {
    const removed: Termination = { streamId: 'a', reason: 'removed', at: NOW - 1000 };
    expect(decideHeartbeat(state([], [removed]), { userId: 'u', streamId: 'a' }, NOW, policy)).toEqual({
      outcome: 'terminated',
      termination: removed,
    });
    expect(decideHeartbeat(state([], [removed]), { userId: 'u', streamId: 'a' }, NOW + 89_000, policy).outcome).toBe(
      'not-found',
    );
  });
});

describe('decideRemove', () => {
  it('removes a live stream and remembers it as removed', () => {
    const decision = decideRemove(state([lease('a', NOW - 30)]), { userId: 'u', streamId: 'a' }, NOW, policy);
    expect(decision.outcome).toBe('removed');
    if (decision.outcome !== 'removed') return;
    expect(decision.next.leases.size).toBe(0);
    expect(decision.next.terminations.get('a')).toEqual({ streamId: 'a', reason: 'removed', at: NOW });
  });

  it('is a no-op for an unknown or expired stream', () => {
    expect(decideRemove(state([lease('a', NOW - 100_000)]), { userId: 'u', streamId: 'a' }, NOW, policy)).toEqual({
      outcome: 'absent',
      streamId: 'a',
    });
    expect(decideRemove(emptyState('u'), { userId: 'u' }, NOW, policy)).toEqual({ outcome: 'absent', streamId: null });
  });

  it('without streamId releases the live stream expiring soonest', () => {
    const current = state([
      lease('a', NOW - 10, NOW + 500),
      lease('b', NOW - 30, NOW + 100),
      lease('c', NOW - 200_000),
    ]);
    expect(decideRemove(current, { userId: 'u' }, NOW, policy)).toMatchObject({ outcome: 'removed', streamId: 'b' });
  });

  it('keeps the maxTerminations newest, oldest first, forgetting the oldest', () => {
    const old = [1, 2, 3, 4].map((i) => ({ streamId: `t${i}`, reason: 'removed' as const, at: NOW - 1000 + i }));
    const decision = decideRemove(state([lease('a', NOW - 30)], old), { userId: 'u', streamId: 'a' }, NOW, policy);
    if (decision.outcome !== 'removed') throw new Error('expected removed');
    expect([...decision.next.terminations.keys()]).toEqual(['t2', 't3', 't4', 'a']);
  });
});

describe('liveLeases', () => {
  it('orders by startedAt and leaves expired leases out', () => {
    const current = state([lease('b', NOW - 10), lease('x', NOW - 200_000), lease('a', NOW - 20)]);
    expect(liveLeases(current, NOW).map((l) => l.streamId)).toEqual(['a', 'b']);
  });
});

describe('standingOf', () => {
  it('counts and weighs only the live leases, oldest first, under the defaults', () => {
    const current = state([weighted('b', NOW - 10, 2), lease('x', NOW - 200_000), weighted('a', NOW - 20, 0)]);
    const standing = standingOf(current, NOW, policy);
    expect(standing).toMatchObject({
      userId: 'u',
      activeStreams: 2,
      slotsInUse: 2,
      limit: 3,
      policy: 'block-new',
    });
    expect(standing.live.map((l) => l.streamId)).toEqual(['a', 'b']);
  });

  it("reports the user's overrides, not the defaults, when they have some", () => {
    const current = state([], [], { limitOverride: 1, policyOverride: 'evict-oldest' });
    expect(standingOf(current, NOW, policy)).toEqual({
      userId: 'u',
      live: [],
      activeStreams: 0,
      slotsInUse: 0,
      limit: 1,
      policy: 'evict-oldest',
    });
  });
});

describe('weighted streams', () => {
  it('admits while the live weights leave room and refuses what does not fit (block-new)', () => {
    const uhd = state([weighted('uhd', NOW - 10, 2)]);
    expect(decideAdd(uhd, { userId: 'u', streamId: 'hd', weight: 1 }, NOW, policy)).toMatchObject({
      outcome: 'admitted',
    });
    expect(decideAdd(uhd, { userId: 'u', streamId: 'uhd2', weight: 2 }, NOW, policy)).toMatchObject({
      outcome: 'rejected',
      limit: 3,
    });
  });

  it('refuses a stream heavier than the limit even under evict-oldest', () => {
    expect(decideAdd(state([]), { userId: 'u', streamId: 'big', weight: 4 }, NOW, evicting)).toMatchObject({
      outcome: 'rejected',
    });
  });

  it('never refuses weight 0 for lack of slots, but refuses an 11th live weight-0 stream', () => {
    const full = state([lease('a', NOW - 3), lease('b', NOW - 2), lease('c', NOW - 1)]);
    expect(decideAdd(full, { userId: 'u', streamId: 'trailer', weight: 0 }, NOW, policy)).toMatchObject({
      outcome: 'admitted',
    });
    const ten = state(Array.from({ length: 10 }, (_, i) => weighted(`z${i}`, NOW - 10 + i, 0)));
    expect(decideAdd(ten, { userId: 'u', streamId: 'z10', weight: 0 }, NOW, evicting)).toMatchObject({
      outcome: 'rejected',
    });
    expect(decideAdd(ten, { userId: 'u', streamId: 'hd' }, NOW, policy)).toMatchObject({ outcome: 'admitted' });
  });

  it('admits a replace when the new weight fits in the slots it frees plus the free ones', () => {
    const current = state([weighted('uhd', NOW - 10, 2)]);
    expect(
      decideAdd(current, { userId: 'u', streamId: 'x', weight: 3, replaceStreamId: 'uhd' }, NOW, policy),
    ).toMatchObject({ outcome: 'admitted' });
    const full = state([lease('a', NOW - 3), lease('b', NOW - 2), lease('c', NOW - 1)]);
    expect(decideAdd(full, { userId: 'u', streamId: 'x', weight: 2, replaceStreamId: 'a' }, NOW, policy)).toMatchObject(
      { outcome: 'rejected' },
    );
  });

  it('lets a replace through when a lowered limit leaves the user above it, as a count-neutral swap', () => {
    const above = state([lease('a', NOW - 3), lease('b', NOW - 2)], [], { limitOverride: 1 });
    expect(decideAdd(above, { userId: 'u', streamId: 'x', replaceStreamId: 'a' }, NOW, policy)).toMatchObject({
      outcome: 'admitted',
    });
  });
});

describe('evict-oldest', () => {
  const full = () => state([lease('b', NOW - 2), lease('a', NOW - 3), lease('c', NOW - 1)]);

  it('ends the oldest live stream and admits the new one, naming the new one as replacedBy', () => {
    const decision = decideAdd(full(), { userId: 'u', streamId: 'd', deviceId: 'tv' }, NOW, evicting);
    if (decision.outcome !== 'admitted') throw new Error('expected admitted');
    expect(decision.evicted.map((l) => l.streamId)).toEqual(['a']);
    expect([...decision.next.leases.keys()].sort()).toEqual(['b', 'c', 'd']);
    expect(decision.next.terminations.get('a')).toEqual({
      streamId: 'a',
      reason: 'evicted',
      at: NOW,
      replacedBy: { streamId: 'd', deviceId: 'tv' },
    });
  });

  it('ends as many of the oldest as a heavier stream needs, skipping weight-0 streams', () => {
    const current = state([weighted('z', NOW - 9, 0), lease('a', NOW - 3), lease('b', NOW - 2), lease('c', NOW - 1)]);
    const decision = decideAdd(current, { userId: 'u', streamId: 'uhd', weight: 2 }, NOW, evicting);
    if (decision.outcome !== 'admitted') throw new Error('expected admitted');
    expect(decision.evicted.map((l) => l.streamId)).toEqual(['a', 'b']);
    expect(decision.next.leases.has('z')).toBe(true);
  });

  it('never evicts on a retry: the live stream is renewed', () => {
    const decision = decideAdd(full(), { userId: 'u', streamId: 'b' }, NOW, evicting);
    expect(decision).toMatchObject({ outcome: 'renewed', evicted: [] });
  });

  it('follows a per-user policy over the default', () => {
    const blocked = state([...full().leases.values()], [], { policyOverride: 'block-new' });
    expect(decideAdd(blocked, { userId: 'u', streamId: 'd' }, NOW, evicting)).toMatchObject({ outcome: 'rejected' });
    const evictingUser = state([...full().leases.values()], [], { policyOverride: 'evict-oldest' });
    expect(decideAdd(evictingUser, { userId: 'u', streamId: 'd' }, NOW, policy)).toMatchObject({ outcome: 'admitted' });
  });
});

describe('decideCheck', () => {
  it('says whether an add of that weight would be admitted, and what it would evict, without changing anything', () => {
    const full = state([lease('a', NOW - 3), lease('b', NOW - 2), lease('c', NOW - 1)]);
    expect(decideCheck(full, 1, NOW, policy)).toEqual({ allowed: false, wouldEvict: [] });
    expect(decideCheck(full, 0, NOW, policy)).toEqual({ allowed: true, wouldEvict: [] });
    expect(decideCheck(full, 2, NOW, evicting).wouldEvict.map((l) => l.streamId)).toEqual(['a', 'b']);
    expect(decideCheck(state([]), 4, NOW, evicting)).toEqual({ allowed: false, wouldEvict: [] });
  });
});

describe('adaptive leases', () => {
  const adaptivePolicy: LeasePolicy = { ...policy, leaseMaxMs: 300_000 };

  it('grants the long term while a slot stays free after the write, LEASE_SECONDS when none does', () => {
    expect(termFor(1, 3, adaptivePolicy)).toBe(300_000);
    expect(termFor(2, 3, adaptivePolicy)).toBe(300_000);
    expect(termFor(3, 3, adaptivePolicy)).toBe(90_000);
    expect(termFor(4, 3, adaptivePolicy)).toBe(90_000);
    expect(termFor(1, 3, policy)).toBe(90_000);
  });

  it('counts the new stream and its weight in the headroom an add leaves', () => {
    const two = state([lease('a', NOW - 2), lease('b', NOW - 1)]);
    const third = decideAdd(two, { userId: 'u', streamId: 'c' }, NOW, adaptivePolicy);
    expect(third).toMatchObject({ outcome: 'admitted', lease: { expiresAt: NOW + 90_000, termMs: 90_000 } });
    const uhd = decideAdd(state([]), { userId: 'u', streamId: 'uhd', weight: 2 }, NOW, adaptivePolicy);
    expect(uhd).toMatchObject({ outcome: 'admitted', lease: { expiresAt: NOW + 300_000, termMs: 300_000 } });
  });

  it('renews a heartbeat by the term the current headroom allows', () => {
    const full = state([lease('a', NOW - 3), lease('b', NOW - 2), lease('c', NOW - 1)]);
    expect(decideHeartbeat(full, { userId: 'u', streamId: 'a' }, NOW, adaptivePolicy)).toMatchObject({
      lease: { termMs: 90_000 },
    });
    const alone = state([lease('a', NOW - 3)]);
    expect(decideHeartbeat(alone, { userId: 'u', streamId: 'a' }, NOW, adaptivePolicy)).toMatchObject({
      lease: { expiresAt: NOW + 300_000 },
    });
  });
});
