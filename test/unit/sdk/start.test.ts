import { StreamLimiterError, StreamLimitReachedError, type StreamLease } from '../../../sdk/src/index';
import { BASE_URL, UUID, recordEvents, settle, setup } from './kit';

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

describe('start()', () => {
  it('admits a stream with 201, sending its own UUID streamId, deviceId and metadata', async () => {
    const { server, limiter } = setup();

    const session = await limiter.start({ userId: 'alice', deviceId: 'tv-1', metadata: { title: 'Film' } });

    expect(session.streamId).toMatch(UUID);
    expect(session.state).toBe('active');
    expect(server.requests).toHaveLength(1);
    const [add] = server.requests;
    expect(add).toMatchObject({ method: 'POST', path: '/streams/add' });
    expect(add?.headers['content-type']).toBe('application/json');
    expect(add?.body).toEqual({
      userId: 'alice',
      streamId: session.streamId,
      deviceId: 'tv-1',
      metadata: { title: 'Film' },
    });
    expect(session.lease).toEqual<StreamLease>({
      userId: 'alice',
      streamId: session.streamId,
      activeStreams: 1,
      limit: 3,
      expiresAt: new Date(Date.now() + 90_000).toISOString(),
      heartbeatIntervalSeconds: 30,
    });
    await session.stop();
  });

  it('uses the streamId it is given', async () => {
    const { server, limiter } = setup();

    const session = await limiter.start({ userId: 'alice', streamId: 'my-stream' });

    expect(session.streamId).toBe('my-stream');
    expect(server.requests[0]?.body).toEqual({ userId: 'alice', streamId: 'my-stream' });
    await session.stop();
  });

  it('rejects a stream over the limit with StreamLimitReachedError listing the live streams, without retrying', async () => {
    const { server, limiter } = setup();
    server.seed('alice', 's1', 'tv');
    server.seed('alice', 's2', 'phone');
    server.seed('alice', 's3');

    const error = await limiter.start({ userId: 'alice', deviceId: 'laptop' }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StreamLimitReachedError);
    expect(error).toBeInstanceOf(StreamLimiterError);
    const limited = error as StreamLimitReachedError;
    expect(limited).toMatchObject({ status: 409, code: 'STREAM_LIMIT_REACHED', limit: 3, activeStreams: 3 });
    const startedAt = new Date(Date.now()).toISOString();
    const expiresAt = new Date(Date.now() + 90_000).toISOString();
    expect(limited.streams).toEqual([
      { streamId: 's1', deviceId: 'tv', startedAt, expiresAt },
      { streamId: 's2', deviceId: 'phone', startedAt, expiresAt },
      { streamId: 's3', startedAt, expiresAt },
    ]);
    expect(limited.body).toMatchObject({ status: 409, code: 'STREAM_LIMIT_REACHED', title: expect.any(String) });
    expect(server.requests).toHaveLength(1);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('replaceStreamId ends the chosen stream and admits the new one; the replaced session is told by whom', async () => {
    const { server, limiter } = setup();
    const tv = await limiter.start({ userId: 'alice', deviceId: 'tv' });
    const tvEvents = recordEvents(tv);
    server.seed('alice', 's2');
    server.seed('alice', 's3');
    const refused = (await limiter
      .start({ userId: 'alice', deviceId: 'phone' })
      .catch((e: unknown) => e)) as StreamLimitReachedError;

    const onTv = refused.streams.find((s) => s.deviceId === 'tv');
    expect(onTv?.streamId).toBe(tv.streamId);

    const phone = await limiter.start({ userId: 'alice', deviceId: 'phone', replaceStreamId: onTv?.streamId });

    expect(server.requestsTo('/streams/add').at(-1)?.body).toMatchObject({
      replaceStreamId: tv.streamId,
      deviceId: 'phone',
    });
    expect(phone.lease.activeStreams).toBe(3);
    expect(server.live('alice').map((l) => l.streamId)).toEqual(['s2', 's3', phone.streamId]);

    await jest.advanceTimersByTimeAsync(30_000);

    expect(tv.state).toBe('terminated');
    expect(tvEvents).toEqual([
      [
        'terminated',
        expect.objectContaining({ reason: 'replaced', replacedBy: { streamId: phone.streamId, deviceId: 'phone' } }),
      ],
    ]);
    await phone.stop();
  });

  it.each([
    [503, 'STORE_UNAVAILABLE', 2],
    [429, 'RATE_LIMITED', 5],
  ])('after %i %s waits Retry-After (%i s) and retries with the same streamId', async (status, code, seconds) => {
    const { server, limiter } = setup();
    server.failWith(status, code, String(seconds));

    const result = settle(limiter.start({ userId: 'alice' }));
    await jest.advanceTimersByTimeAsync(seconds * 1000 - 1);
    expect(server.requests).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1);

    const { value: session } = result();
    expect(session?.state).toBe('active');
    const adds = server.requestsTo('/streams/add');
    expect(adds).toHaveLength(2);
    expect(adds[1]?.body?.streamId).toBe(adds[0]?.body?.streamId);
    expect(adds[1]?.body?.streamId).toBe(session?.streamId);
    await session?.stop();
  });

  it('retries an add whose answer was lost with the same streamId, which renews (200) and takes one slot only', async () => {
    const { server, limiter } = setup();
    server.fail({ kind: 'lost-answer' });

    const result = settle(limiter.start({ userId: 'alice' }));
    await jest.advanceTimersByTimeAsync(1000);

    const { value: session } = result();
    expect(server.live('alice')).toHaveLength(1);
    expect(session?.lease.activeStreams).toBe(1);
    const adds = server.requestsTo('/streams/add');
    expect(adds.map((r) => r.body?.streamId)).toEqual([session?.streamId, session?.streamId]);
    await session?.stop();
  });

  it('treats network errors like 503, backing off exponentially', async () => {
    const { server, limiter } = setup();
    server.fail({ kind: 'network' }, 2);

    const result = settle(limiter.start({ userId: 'alice' }));
    await jest.advanceTimersByTimeAsync(1000); // first back-off: 0.5–1 s
    expect(server.requests).toHaveLength(2);
    await jest.advanceTimersByTimeAsync(2000); // second: 1–2 s

    expect(server.requests).toHaveLength(3);
    expect(result().value?.state).toBe('active');
    await result().value?.stop();
  });

  it('aborts a request without an answer after requestTimeoutMs and retries it', async () => {
    const { server, limiter } = setup({ requestTimeoutMs: 5000 });
    server.fail({ kind: 'hang' });

    const result = settle(limiter.start({ userId: 'alice' }));
    await jest.advanceTimersByTimeAsync(4999);
    expect(server.requests).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1 + 1000);

    expect(server.requests).toHaveLength(2);
    expect(result().value?.state).toBe('active');
    await result().value?.stop();
  });

  it('gives up after retry.maxAttempts with the last error, and releases the stream an attempt may have taken', async () => {
    const { server, limiter } = setup({ retry: { maxAttempts: 3 } });
    server.failWith(503, 'STORE_UNAVAILABLE', '1', 10, '/streams/add');

    const result = settle(limiter.start({ userId: 'alice' }));
    await jest.advanceTimersByTimeAsync(2000);

    const { error, done } = result();
    expect(done).toBe(true);
    expect(error).toBeInstanceOf(StreamLimiterError);
    expect(error).toMatchObject({ status: 503, code: 'STORE_UNAVAILABLE', retryAfterMs: 1000 });
    const adds = server.requestsTo('/streams/add');
    expect(adds.map((r) => r.at)).toEqual([0, 1000, 2000].map((ms) => adds[0]!.at + ms));
    expect(server.requestsTo('/streams/remove').map((r) => r.body)).toEqual([
      { userId: 'alice', streamId: adds[0]?.body?.streamId },
    ]);
    await jest.advanceTimersByTimeAsync(60_000);
    expect(server.requests).toHaveLength(4);
  });

  it('gives up at once when Retry-After goes beyond retry.maxElapsedMs', async () => {
    const { server, limiter } = setup({ retry: { maxElapsedMs: 30_000 } });
    server.failWith(429, 'RATE_LIMITED', '60');

    const error = await limiter.start({ userId: 'alice' }).catch((e: unknown) => e);

    expect(error).toMatchObject({ status: 429, code: 'RATE_LIMITED', retryAfterMs: 60_000 });
    // 429 is answered before anything is stored, so there is nothing to release.
    expect(server.requests).toHaveLength(1);
  });

  it.each([
    [400, 'VALIDATION_ERROR'],
    [401, 'UNAUTHENTICATED'],
    [403, 'FORBIDDEN'],
  ])('does not retry %i %s and exposes status, code and problem body', async (status, code) => {
    const { server, limiter } = setup();
    server.failWith(status, code);

    const error = await limiter.start({ userId: 'alice' }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StreamLimiterError);
    expect(error).toMatchObject({ status, code, body: { status, code, detail: code, type: 'about:blank' } });
    expect(server.requests).toHaveLength(1);
  });

  it('reports a non-problem error answer (a proxy page) as HTTP_<status>', async () => {
    const { server, limiter } = setup({ retry: { maxAttempts: 1 } });
    server.fail({ kind: 'status', status: 502, code: '', contentType: 'text/html', text: '<h1>Bad gateway</h1>' });

    const error = await limiter.start({ userId: 'alice' }).catch((e: unknown) => e);

    expect(error).toMatchObject({ status: 502, code: 'HTTP_502', body: undefined });
  });

  it('stops retrying when its signal aborts, rejecting with the abort reason and releasing the stream', async () => {
    const { server, limiter } = setup();
    server.failWith(503, 'STORE_UNAVAILABLE', '10', 1, '/streams/add');
    const controller = new AbortController();

    const result = settle(limiter.start({ userId: 'alice', signal: controller.signal }));
    await jest.advanceTimersByTimeAsync(1000);
    controller.abort();
    await jest.advanceTimersByTimeAsync(60_000);

    expect(result().error).toMatchObject({ name: 'AbortError' });
    expect(server.requests.map((r) => r.path)).toEqual(['/streams/add', '/streams/remove']);
  });

  it('sends Authorization: Bearer from getToken, asking for the token before every request', async () => {
    let token = 'token-1';
    const getToken = jest.fn(async () => token);
    const { server, limiter } = setup({ getToken });
    server.token = 'token-1';

    const session = await limiter.start({ userId: 'alice' });
    server.token = token = 'token-2';
    await jest.advanceTimersByTimeAsync(30_000);
    await session.stop();

    expect(server.requests.map((r) => [r.path, r.headers.authorization])).toEqual([
      ['/streams/add', 'Bearer token-1'],
      ['/streams/heartbeat', 'Bearer token-2'],
      ['/streams/remove', 'Bearer token-2'],
    ]);
    expect(getToken).toHaveBeenCalledTimes(3);
  });

  it('sends no Authorization header without getToken', async () => {
    const { server, limiter } = setup();

    const session = await limiter.start({ userId: 'alice' });
    await session.stop();

    expect(server.requests.every((r) => r.headers.authorization === undefined)).toBe(true);
  });

  it('keeps a BASE_PATH in baseUrl and ignores a trailing slash', async () => {
    const { server, limiter } = setup({ baseUrl: `${BASE_URL}/dev/` });
    server.basePath = '/dev';

    const session = await limiter.start({ userId: 'alice' });
    await session.stop();

    expect(server.requests.map((r) => r.path)).toEqual(['/streams/add', '/streams/remove']);
    expect(server.live('alice')).toHaveLength(0);
  });
});
