import { StreamTerminatedError, type ResumeStorage } from '../../../sdk/src/index';
import { names, recordEvents, setup } from './kit';

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

describe('adaptive leases: every answer sets the next heartbeat and the lease deadline', () => {
  it('heartbeats at each answered interval and expires at the last answered expiresAt', async () => {
    const { server, limiter } = setup();
    // A user with headroom: a 300 s lease, heartbeats every 100 s.
    server.leaseSeconds = 300;
    server.heartbeatIntervalSeconds = 100;
    const session = await limiter.start({ userId: 'alice' });
    const events = recordEvents(session);
    expect(session.remainingMs).toBe(300_000);

    // The user fills up: the next answer shortens both, and the session follows at once.
    server.leaseSeconds = 90;
    server.heartbeatIntervalSeconds = 30;
    await jest.advanceTimersByTimeAsync(100_000);
    expect(server.requestsTo('/streams/heartbeat')).toHaveLength(1);
    expect(session.remainingMs).toBe(90_000);
    await jest.advanceTimersByTimeAsync(30_000);
    expect(server.requestsTo('/streams/heartbeat')).toHaveLength(2);

    // From now on every heartbeat fails: the slot is judged lost at the answered 90 s, not the first 300 s.
    server.fail({ kind: 'network' }, 1000);
    const lastAnswerAt = Date.now();
    await jest.advanceTimersByTimeAsync(89_000);
    expect(session.state).toBe('active');
    await jest.advanceTimersByTimeAsync(31_000);
    expect(session.state).toBe('expired');
    expect(events.at(-1)).toEqual(['expired', { reason: 'lease-lapsed', error: expect.anything() }]);
    expect(server.requests.at(-1)!.at - lastAnswerAt).toBeLessThanOrEqual(120_000);
  });
});

describe('issue 14 answers', () => {
  it('sends weight on start and on a re-add after 404', async () => {
    const { server, limiter } = setup();
    const session = await limiter.start({ userId: 'alice', weight: 2 });
    server.forget('alice', session.streamId);
    await jest.advanceTimersByTimeAsync(30_000);

    expect(server.requestsTo('/streams/add').map((r) => r.body?.weight)).toEqual([2, 2]);
    expect(session.weight).toBe(2);
    await session.stop();
  });

  it('reports an eviction (410 evicted) with who replaced the stream', async () => {
    const { server, limiter } = setup();
    const session = await limiter.start({ userId: 'alice' });
    const events = recordEvents(session);
    server.evict('alice', session.streamId, { streamId: 'new-1', deviceId: 'phone' });
    await jest.advanceTimersByTimeAsync(30_000);

    expect(events).toEqual([
      [
        'terminated',
        {
          reason: 'evicted',
          replacedBy: { streamId: 'new-1', deviceId: 'phone' },
          source: 'heartbeat',
          error: expect.any(StreamTerminatedError),
        },
      ],
    ]);
  });

  it('shows a degraded answer (STORE_FAILURE_MODE=open) and its end', async () => {
    const { server, limiter } = setup();
    server.leaseExtras = { degraded: true, slotsInUse: 1, policy: 'block-new' };
    const session = await limiter.start({ userId: 'alice' });
    expect(session.degraded).toBe(true);
    expect(session.lease).toMatchObject({ slotsInUse: 1, policy: 'block-new' });

    server.leaseExtras = {};
    await jest.advanceTimersByTimeAsync(30_000);
    expect(session.degraded).toBe(false);
    await session.stop();
  });

  it('check() posts the preflight and returns its answer', async () => {
    const { server, limiter } = setup();
    server.seed('alice', 'a', 'tv');
    const check = await limiter.check({ userId: 'alice', weight: 2 });

    expect(server.requestsTo('/streams/check').map((r) => r.body)).toEqual([{ userId: 'alice', weight: 2 }]);
    expect(check).toMatchObject({ allowed: true, activeStreams: 1, limit: 3, streams: [{ streamId: 'a' }] });
  });
});

describe('start({ resumeKey })', () => {
  const memoryStorage = (): ResumeStorage & { items: Map<string, string> } => {
    const items = new Map<string, string>();
    return {
      items,
      getItem: (k) => items.get(k) ?? null,
      setItem: (k, v) => void items.set(k, v),
      removeItem: (k) => void items.delete(k),
    };
  };

  it('a second start under the same key (a reload) renews the same stream with 200, taking no second slot', async () => {
    const storage = memoryStorage();
    const { server, limiter } = setup({ resumeStorage: storage });
    const first = await limiter.start({ userId: 'alice', resumeKey: 'tv' });
    const statuses: number[] = [];
    const reloaded = setup({
      resumeStorage: storage,
      fetch: async (input, init) => {
        const response = await server.fetch(input, init);
        statuses.push(response.status);
        return response;
      },
    }).limiter;
    const second = await reloaded.start({ userId: 'alice', resumeKey: 'tv' });

    expect(second.streamId).toBe(first.streamId);
    expect(statuses).toEqual([200]);
    expect(server.live('alice')).toHaveLength(1);
    await second.stop();
    expect(storage.items.size).toBe(0);
  });

  it('is per user, and forgotten once the session ends', async () => {
    const storage = memoryStorage();
    const { server, limiter } = setup({ resumeStorage: storage });
    const alice = await limiter.start({ userId: 'alice', resumeKey: 'tv' });
    const bob = await limiter.start({ userId: 'bob', resumeKey: 'tv' });
    expect(bob.streamId).not.toBe(alice.streamId);

    await limiter.remove({ userId: 'bob', streamId: bob.streamId });
    await jest.advanceTimersByTimeAsync(30_000);
    expect(bob.state).toBe('terminated');
    const again = await limiter.start({ userId: 'bob', resumeKey: 'tv' });
    expect(again.streamId).not.toBe(bob.streamId);
    expect(names(recordEvents(again))).toEqual([]);
    expect(server.live('bob')).toHaveLength(1);
  });
});
