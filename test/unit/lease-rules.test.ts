import { decideAdd, decideHeartbeat, decideRemove, liveLeases } from '../../src/leases/lease-rules';
import { emptyState, type Lease, type LeasePolicy, type Termination, type UserState } from '../../src/leases/model';

const policy: LeasePolicy = { defaultLimit: 3, leaseMs: 90_000, maxTerminations: 4 };
const NOW = 1_800_000_000_000;

function lease(streamId: string, startedAt: number, expiresAt = startedAt + policy.leaseMs): Lease {
  return { streamId, startedAt, expiresAt };
}

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
    expect(decision.lease).toEqual({ streamId: 's1', startedAt: NOW, expiresAt: NOW + 90_000, deviceId: 'tv' });
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
    expect(decision.lease).toEqual({ streamId: 'b', startedAt: NOW - 20, expiresAt: NOW + 90_000 });
    expect(decision.next.leases.size).toBe(3);
  });

  it('re-admits an expired stream id as a new lease', () => {
    const current = state([lease('a', NOW - 200_000)]);
    const decision = decideAdd(current, { userId: 'u', streamId: 'a' }, NOW, policy);
    expect(decision).toMatchObject({ outcome: 'admitted', lease: { startedAt: NOW } });
  });

  it('replaces a live stream at the limit in one decision and remembers who replaced it', () => {
    const current = state([lease('a', NOW - 30), lease('b', NOW - 20), lease('c', NOW - 10)]);
    const decision = decideAdd(current, { userId: 'u', streamId: 'd', deviceId: 'phone', replaceStreamId: 'a' }, NOW, policy);
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
    expect(decideAdd(current, { userId: 'u', streamId: 'd', replaceStreamId: 'a' }, NOW, policy).outcome).toBe('admitted');
    expect(decideAdd(current, { userId: 'u', streamId: 'e' }, NOW, policy)).toMatchObject({ outcome: 'rejected', limit: 1 });
  });

  it('falls back to a plain add when the stream to replace is not live', () => {
    const full = state([lease('a', NOW - 30), lease('b', NOW - 20), lease('c', NOW - 10)]);
    expect(decideAdd(full, { userId: 'u', streamId: 'd', replaceStreamId: 'zzz' }, NOW, policy).outcome).toBe('rejected');
    const roomy = state([lease('a', NOW - 30)]);
    expect(decideAdd(roomy, { userId: 'u', streamId: 'd', replaceStreamId: 'zzz' }, NOW, policy).outcome).toBe('admitted');
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
    expect(decision).toEqual({ outcome: 'renewed', lease: { streamId: 'a', startedAt: NOW - 30, expiresAt: NOW + 90_000 } });
  });

  it('answers not-found for an expired lease, so the player may add again', () => {
    expect(decideHeartbeat(state([lease('a', NOW - 100_000)]), { userId: 'u', streamId: 'a' }, NOW, policy).outcome).toBe('not-found');
  });

  it('answers terminated for a stream removed within the lease, and not-found after', () => {
    const removed: Termination = { streamId: 'a', reason: 'removed', at: NOW - 1000 };
    expect(decideHeartbeat(state([], [removed]), { userId: 'u', streamId: 'a' }, NOW, policy)).toEqual({
      outcome: 'terminated',
      termination: removed,
    });
    expect(decideHeartbeat(state([], [removed]), { userId: 'u', streamId: 'a' }, NOW + 89_000, policy).outcome).toBe('not-found');
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
    const current = state([lease('a', NOW - 10, NOW + 500), lease('b', NOW - 30, NOW + 100), lease('c', NOW - 200_000)]);
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
