import { StreamLimitReachedError, StreamLimiterError, StreamTerminatedError } from '../../../sdk/src/index';
import { names, recordEvents, settle, setup } from './kit';

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

describe('heartbeats', () => {
  it('heartbeat at the interval the service answers, and follow a changed interval', async () => {
    const { server, limiter } = setup();
    server.heartbeatIntervalSeconds = 7;
    const session = await limiter.start({ userId: 'alice' });
    const events = recordEvents(session);

    await jest.advanceTimersByTimeAsync(6999);
    expect(server.requestsTo('/streams/heartbeat')).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(server.requestsTo('/streams/heartbeat').map((r) => r.body)).toEqual([
      { userId: 'alice', streamId: session.streamId },
    ]);
    expect(events).toEqual([['renewed', { via: 'heartbeat', lease: session.lease }]]);
    expect(session.lease.expiresAt).toBe(new Date(Date.now() + 90_000).toISOString());

    server.heartbeatIntervalSeconds = 3;
    await jest.advanceTimersByTimeAsync(7000); // answered with the new interval
    await jest.advanceTimersByTimeAsync(3000);

    const beats = server.requestsTo('/streams/heartbeat');
    expect(beats.map((r) => r.at - beats[0]!.at)).toEqual([0, 7000, 10_000]);
    await session.stop();
  });

  it('on 404 STREAM_NOT_FOUND adds the same streamId again once, then goes on heartbeating', async () => {
    const { server, limiter } = setup();
    const session = await limiter.start({ userId: 'alice', deviceId: 'tv', metadata: { title: 'Film' } });
    const events = recordEvents(session);
    server.forget('alice', session.streamId);

    await jest.advanceTimersByTimeAsync(30_000);

    expect(server.requests.map((r) => r.path)).toEqual(['/streams/add', '/streams/heartbeat', '/streams/add']);
    expect(server.requests[2]?.body).toEqual({
      userId: 'alice',
      streamId: session.streamId,
      deviceId: 'tv',
      metadata: { title: 'Film' },
    });
    expect(names(events)).toEqual(['renewed']);
    expect(events[0]?.[1]).toMatchObject({ via: 're-add' });
    expect(session.state).toBe('active');

    await jest.advanceTimersByTimeAsync(30_000);
    expect(server.requests.at(-1)?.path).toBe('/streams/heartbeat');
    await session.stop();
  });

  it('does not re-add a replaced stream with its replaceStreamId', async () => {
    const { server, limiter } = setup();
    server.seed('alice', 'old');
    const session = await limiter.start({ userId: 'alice', replaceStreamId: 'old' });
    server.forget('alice', session.streamId);

    await jest.advanceTimersByTimeAsync(30_000);

    expect(server.requests[2]?.body).toEqual({ userId: 'alice', streamId: session.streamId });
    await session.stop();
  });

  it('when the re-add after a 404 meets 409, ends as expired with the conflict and sends nothing more', async () => {
    const { server, limiter } = setup();
    const session = await limiter.start({ userId: 'alice' });
    const events = recordEvents(session);
    server.forget('alice', session.streamId);
    server.seed('alice', 's1', 'tv');
    server.seed('alice', 's2');
    server.seed('alice', 's3');

    await jest.advanceTimersByTimeAsync(30_000);

    expect(session.state).toBe('expired');
    expect(names(events)).toEqual(['expired']);
    const [, info] = events[0]!;
    expect(info).toMatchObject({ reason: 'limit-reached' });
    const conflict = (info as { error: unknown }).error as StreamLimitReachedError;
    expect(conflict).toBeInstanceOf(StreamLimitReachedError);
    expect(conflict.streams.map((s) => s.streamId)).toEqual(['s1', 's2', 's3']);
    expect(jest.getTimerCount()).toBe(0);

    const sent = server.requests.length;
    await jest.advanceTimersByTimeAsync(600_000);
    await session.stop(); // the service holds no lease for it: nothing to release
    expect(server.requests).toHaveLength(sent);
  });

  it('on 410 removed ends as terminated, never re-adds, and sends nothing more', async () => {
    const { server, limiter } = setup();
    const session = await limiter.start({ userId: 'alice' });
    const events = recordEvents(session);
    await limiter.remove({ userId: 'alice', streamId: session.streamId }); // "stop" on another device

    await jest.advanceTimersByTimeAsync(30_000);

    expect(session.state).toBe('terminated');
    expect(events).toEqual([
      ['terminated', { reason: 'removed', source: 'heartbeat', error: expect.any(StreamTerminatedError) }],
    ]);
    expect(events[0]?.[1]).not.toHaveProperty('replacedBy');
    expect(jest.getTimerCount()).toBe(0);
    const sent = server.requests.length;
    expect(server.requests.at(-1)?.path).toBe('/streams/heartbeat');

    await jest.advanceTimersByTimeAsync(600_000);
    await session.stop();
    expect(server.requests).toHaveLength(sent);
  });

  it.each([
    [503, 'STORE_UNAVAILABLE'],
    [429, 'RATE_LIMITED'],
  ])(
    'after a %i %s heartbeat, emits error and retries after Retry-After, before the next tick',
    async (status, code) => {
      const { server, limiter } = setup();
      const session = await limiter.start({ userId: 'alice' });
      const events = recordEvents(session);
      server.failWith(status, code, '2');

      await jest.advanceTimersByTimeAsync(30_000);
      expect(events).toEqual([['error', expect.objectContaining({ status, code, retryAfterMs: 2000 })]]);
      await jest.advanceTimersByTimeAsync(1999);
      expect(server.requestsTo('/streams/heartbeat')).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(1);

      expect(server.requestsTo('/streams/heartbeat')).toHaveLength(2);
      expect(names(events)).toEqual(['error', 'renewed']);
      await jest.advanceTimersByTimeAsync(30_000);
      expect(server.requestsTo('/streams/heartbeat')).toHaveLength(3);
      await session.stop();
    },
  );

  it('retries a heartbeat lost to the network with back-off, sooner than the interval', async () => {
    const { server, limiter } = setup();
    const session = await limiter.start({ userId: 'alice' });
    const events = recordEvents(session);
    server.fail({ kind: 'network' });

    await jest.advanceTimersByTimeAsync(30_000 + 1000);

    expect(names(events)).toEqual(['error', 'renewed']);
    expect(events[0]?.[1]).toMatchObject({ status: 0, code: 'NETWORK_ERROR' });
    await session.stop();
  });

  it('keeps retrying failed heartbeats while the lease holds, then ends as expired (lease-lapsed)', async () => {
    const { server, limiter } = setup();
    const session = await limiter.start({ userId: 'alice' });
    const events = recordEvents(session);
    server.fail({ kind: 'network' }, 1000, '/streams/heartbeat');

    await jest.advanceTimersByTimeAsync(89_999);
    expect(session.state).toBe('active');
    await jest.advanceTimersByTimeAsync(30_001);

    expect(session.state).toBe('expired');
    expect(names(events).at(-1)).toBe('expired');
    expect(events.at(-1)?.[1]).toMatchObject({ reason: 'lease-lapsed', error: { code: 'NETWORK_ERROR' } });
    const beats = server.requestsTo('/streams/heartbeat');
    expect(beats.length).toBeGreaterThan(4);
    expect(beats.at(-1)!.at - beats[0]!.at).toBeLessThanOrEqual(90_000);
    const sent = server.requests.length;
    await jest.advanceTimersByTimeAsync(600_000);
    expect(server.requests).toHaveLength(sent);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('judges the lease by the server Date header when the device clock runs ahead', async () => {
    const { server, limiter } = setup();
    server.clockOffsetMs = -600_000; // the service's clock is 10 minutes behind the device's
    server.sendDateHeader = true;
    server.leaseSeconds = 300; // not the 3 intervals assumed without a Date header
    const session = await limiter.start({ userId: 'alice' });
    const events = recordEvents(session);
    server.fail({ kind: 'network' }, 1000, '/streams/heartbeat');

    await jest.advanceTimersByTimeAsync(299_000);
    expect(session.state).toBe('active');
    await jest.advanceTimersByTimeAsync(31_000);

    expect(events.at(-1)).toEqual(['expired', expect.objectContaining({ reason: 'lease-lapsed' })]);
  });

  it('assumes three heartbeat intervals when the device clock is off and no Date header is readable', async () => {
    const { server, limiter } = setup();
    server.clockOffsetMs = -600_000;
    const session = await limiter.start({ userId: 'alice' });
    const events = recordEvents(session);
    server.fail({ kind: 'network' }, 1000, '/streams/heartbeat');

    await jest.advanceTimersByTimeAsync(60_000);
    expect(session.state).toBe('active');
    await jest.advanceTimersByTimeAsync(60_000);

    expect(events.at(-1)?.[1]).toMatchObject({ reason: 'lease-lapsed' });
  });

  it('retries a 401 heartbeat, picking up a refreshed token', async () => {
    let token = 'old';
    const { server, limiter } = setup({ getToken: () => token });
    server.token = 'old';
    const session = await limiter.start({ userId: 'alice' });
    const events = recordEvents(session);
    server.token = 'new';

    await jest.advanceTimersByTimeAsync(30_000);
    expect(events).toEqual([['error', expect.objectContaining({ status: 401, code: 'UNAUTHENTICATED' })]]);
    token = 'new';
    await jest.advanceTimersByTimeAsync(1000);

    expect(names(events)).toEqual(['error', 'renewed']);
    await session.stop();
  });

  it('ends as expired (rejected) when a heartbeat is refused for good, e.g. 403', async () => {
    const { server, limiter } = setup();
    const session = await limiter.start({ userId: 'alice' });
    const events = recordEvents(session);
    server.failWith(403, 'FORBIDDEN', undefined, 1, '/streams/heartbeat');

    await jest.advanceTimersByTimeAsync(30_000);

    expect(names(events)).toEqual(['error', 'expired']);
    expect(events[1]?.[1]).toMatchObject({ reason: 'rejected', error: { status: 403, code: 'FORBIDDEN' } });
    expect(jest.getTimerCount()).toBe(0);
  });

  it('a re-add that keeps failing ends as lease-lapsed within the retry budget', async () => {
    const { server, limiter } = setup({ retry: { maxAttempts: 3 } });
    const session = await limiter.start({ userId: 'alice' });
    const events = recordEvents(session);
    server.forget('alice', session.streamId);
    server.failWith(503, 'STORE_UNAVAILABLE', '1', 10, '/streams/add');

    await jest.advanceTimersByTimeAsync(32_000);

    expect(server.requests.slice(1).map((r) => r.path)).toEqual([
      '/streams/heartbeat',
      '/streams/add',
      '/streams/add',
      '/streams/add',
    ]);
    expect(names(events)).toEqual(['error', 'error', 'error', 'expired']);
    expect(events.at(-1)?.[1]).toMatchObject({ reason: 'lease-lapsed', error: { status: 503 } });
  });
});

describe('stop()', () => {
  it('releases the stream, stops every timer, and is idempotent', async () => {
    const { server, limiter } = setup();
    const session = await limiter.start({ userId: 'alice' });
    await jest.advanceTimersByTimeAsync(30_000);

    const first = session.stop();
    const second = session.stop();
    await first;

    expect(second).toBe(first);
    expect(session.state).toBe('stopped');
    expect(server.requests.map((r) => r.path)).toEqual(['/streams/add', '/streams/heartbeat', '/streams/remove']);
    expect(server.requests[2]?.body).toEqual({ userId: 'alice', streamId: session.streamId });
    expect(server.live('alice')).toHaveLength(0);
    expect(jest.getTimerCount()).toBe(0);
    await jest.advanceTimersByTimeAsync(600_000);
    await session.stop();
    expect(server.requests).toHaveLength(3);
  });

  it('cancels a pending heartbeat retry', async () => {
    const { server, limiter } = setup();
    const session = await limiter.start({ userId: 'alice' });
    server.failWith(503, 'STORE_UNAVAILABLE', '5');
    await jest.advanceTimersByTimeAsync(30_000);

    await session.stop();
    await jest.advanceTimersByTimeAsync(600_000);

    expect(server.requests.map((r) => r.path)).toEqual(['/streams/add', '/streams/heartbeat', '/streams/remove']);
  });

  it('lets a re-add in flight land before removing, so no lease is left behind', async () => {
    const { server, limiter } = setup();
    const session = await limiter.start({ userId: 'alice' });
    const events = recordEvents(session);
    server.forget('alice', session.streamId);
    server.fail({ kind: 'delay', ms: 2000 }, 1, '/streams/add');
    await jest.advanceTimersByTimeAsync(30_000); // heartbeat 404, re-add under way

    const stopped = settle(session.stop());
    await jest.advanceTimersByTimeAsync(1999);
    expect(server.requestsTo('/streams/remove')).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(1);

    expect(stopped().done).toBe(true);
    expect(server.requests.map((r) => r.path)).toEqual([
      '/streams/add',
      '/streams/heartbeat',
      '/streams/add',
      '/streams/remove',
    ]);
    expect(server.live('alice')).toHaveLength(0);
    expect(events).toEqual([]); // the late answer is ignored
  });

  it('ignores a heartbeat answer that arrives after stop()', async () => {
    const { server, limiter } = setup();
    const session = await limiter.start({ userId: 'alice' });
    const events = recordEvents(session);
    server.fail({ kind: 'delay', ms: 1000 }, 1, '/streams/heartbeat');
    await jest.advanceTimersByTimeAsync(30_000);

    const stopped = session.stop();
    await jest.advanceTimersByTimeAsync(1000);
    await stopped;

    expect(events).toEqual([]);
    expect(session.state).toBe('stopped');
    expect(jest.getTimerCount()).toBe(0);
  });

  it('rejects when the release fails for good, yet the session is stopped', async () => {
    const { server, limiter } = setup({ retry: { maxAttempts: 2 } });
    const session = await limiter.start({ userId: 'alice' });
    server.failWith(500, 'INTERNAL', undefined, 2, '/streams/remove');

    const stopped = settle(session.stop());
    await jest.advanceTimersByTimeAsync(1000);

    expect(stopped().error).toBeInstanceOf(StreamLimiterError);
    expect(stopped().error).toMatchObject({ status: 500, code: 'INTERNAL' });
    expect(server.requestsTo('/streams/remove')).toHaveLength(2);
    expect(session.state).toBe('stopped');
    await jest.advanceTimersByTimeAsync(600_000);
    expect(server.requestsTo('/streams/heartbeat')).toHaveLength(0);
  });

  it('releases a session whose heartbeats lapsed locally, in case the service still counts it', async () => {
    const { server, limiter } = setup();
    const session = await limiter.start({ userId: 'alice' });
    server.fail({ kind: 'network' }, 1000, '/streams/heartbeat');
    await jest.advanceTimersByTimeAsync(120_000);
    expect(session.state).toBe('expired');

    await session.stop();

    expect(server.requests.at(-1)).toMatchObject({
      path: '/streams/remove',
      body: { userId: 'alice', streamId: session.streamId },
    });
    expect(session.state).toBe('expired');
  });
});

describe('listeners', () => {
  it('on() returns an unsubscribe function; off() removes a listener', async () => {
    const { limiter } = setup();
    const session = await limiter.start({ userId: 'alice' });
    const a = jest.fn();
    const b = jest.fn();
    const unsubscribe = session.on('renewed', a);
    session.on('renewed', b);

    await jest.advanceTimersByTimeAsync(30_000);
    unsubscribe();
    session.off('renewed', b);
    await jest.advanceTimersByTimeAsync(30_000);

    expect(a).toHaveBeenCalledTimes(1);
    expect(b).toHaveBeenCalledTimes(1);
    await session.stop();
  });

  it('a throwing listener is reported and does not stop heartbeats or other listeners', async () => {
    const consoleError = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const { server, limiter } = setup();
    const session = await limiter.start({ userId: 'alice' });
    const other = jest.fn();
    session.on('renewed', () => {
      throw new Error('player bug');
    });
    session.on('renewed', other);

    await jest.advanceTimersByTimeAsync(60_000);

    expect(other).toHaveBeenCalledTimes(2);
    expect(server.requestsTo('/streams/heartbeat')).toHaveLength(2);
    expect(consoleError).toHaveBeenCalledWith(expect.objectContaining({ message: 'player bug' }));
    consoleError.mockRestore();
    await session.stop();
  });

  it('a listener may call stop() from inside an event', async () => {
    const { server, limiter } = setup();
    const session = await limiter.start({ userId: 'alice' });
    let stopped: Promise<void> | undefined;
    session.on('renewed', () => {
      stopped = session.stop();
    });

    await jest.advanceTimersByTimeAsync(30_000);
    await stopped;
    await jest.advanceTimersByTimeAsync(600_000);

    expect(server.requests.map((r) => r.path)).toEqual(['/streams/add', '/streams/heartbeat', '/streams/remove']);
    expect(jest.getTimerCount()).toBe(0);
  });
});
