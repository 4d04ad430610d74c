import { createStreamLimiterClient, StreamLimiterError } from '../../../sdk/src/index';
import { settle, setup } from './kit';

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

describe('list()', () => {
  it('GETs /users/{userId}/streams with the userId encoded and returns the live streams', async () => {
    const { server, limiter } = setup();
    server.seed('bob+tv@example.com', 's1', 'tv');

    const listed = await limiter.list('bob+tv@example.com');

    expect(server.requests[0]).toMatchObject({
      method: 'GET',
      path: '/users/bob%2Btv%40example.com/streams',
      body: undefined,
    });
    expect(listed).toEqual({
      userId: 'bob+tv@example.com',
      limit: 3,
      activeStreams: 1,
      streams: [{ streamId: 's1', deviceId: 'tv', startedAt: expect.any(String), expiresAt: expect.any(String) }],
    });
  });

  it('retries a 503 after Retry-After', async () => {
    const { server, limiter } = setup();
    server.failWith(503, 'STORE_UNAVAILABLE', '1');

    const result = settle(limiter.list('alice'));
    await jest.advanceTimersByTimeAsync(1000);

    expect(result().value).toMatchObject({ userId: 'alice', activeStreams: 0, streams: [] });
    expect(server.requests).toHaveLength(2);
  });
});

describe('remove()', () => {
  it('removes the named stream', async () => {
    const { server, limiter } = setup();
    server.seed('alice', 's1');

    const result = await limiter.remove({ userId: 'alice', streamId: 's1' });

    expect(server.requests[0]?.body).toEqual({ userId: 'alice', streamId: 's1' });
    expect(result).toEqual({ userId: 'alice', streamId: 's1', removed: true, activeStreams: 0, limit: 3 });
  });

  it('without streamId, releases the stream expiring soonest, or reports none', async () => {
    const { server, limiter } = setup();
    server.seed('alice', 'older');
    jest.advanceTimersByTime(1000);
    server.seed('alice', 'newer');

    const first = await limiter.remove({ userId: 'alice' });
    await limiter.remove({ userId: 'alice', streamId: null });
    const none = await limiter.remove({ userId: 'alice' });

    expect(server.requests.map((r) => r.body)).toEqual([{ userId: 'alice' }, { userId: 'alice' }, { userId: 'alice' }]);
    expect(first).toMatchObject({ streamId: 'older', removed: true, activeStreams: 1 });
    expect(none).toEqual({ userId: 'alice', streamId: null, removed: false, activeStreams: 0, limit: 3 });
  });

  it('retries a remove of a named stream after a network error (it is idempotent)', async () => {
    const { server, limiter } = setup();
    server.seed('alice', 's1');
    server.fail({ kind: 'lost-answer' });

    const result = settle(limiter.remove({ userId: 'alice', streamId: 's1' }));
    await jest.advanceTimersByTimeAsync(1000);

    expect(result().value).toMatchObject({ streamId: 's1', removed: false });
    expect(server.requests).toHaveLength(2);
  });

  it('does not repeat a remove without streamId after 503 or a network error: it could release a second stream', async () => {
    const { server, limiter } = setup();
    server.seed('alice', 's1');
    server.seed('alice', 's2');
    server.failWith(503, 'STORE_UNAVAILABLE', '1').fail({ kind: 'network' });

    const afterStoreError = await limiter.remove({ userId: 'alice' }).catch((e: unknown) => e);
    const afterNetworkError = await limiter.remove({ userId: 'alice' }).catch((e: unknown) => e);

    expect(afterStoreError).toMatchObject({ status: 503, code: 'STORE_UNAVAILABLE' });
    expect(afterNetworkError).toMatchObject({ status: 0, code: 'NETWORK_ERROR' });
    expect(server.requests).toHaveLength(2);
    expect(server.live('alice')).toHaveLength(2);
  });

  it('does repeat a remove without streamId after 429, which the service answers before acting', async () => {
    const { server, limiter } = setup();
    server.seed('alice', 's1');
    server.failWith(429, 'RATE_LIMITED', '3');

    const result = settle(limiter.remove({ userId: 'alice' }));
    await jest.advanceTimersByTimeAsync(3000);

    expect(result().value).toMatchObject({ streamId: 's1', removed: true });
  });
});

describe('createStreamLimiterClient()', () => {
  it('requires a baseUrl', () => {
    expect(() => createStreamLimiterClient({ baseUrl: '' })).toThrow(TypeError);
  });

  it('uses the global fetch when none is given', async () => {
    const { server } = setup();
    const spy = jest.spyOn(globalThis, 'fetch').mockImplementation((input, init) => server.fetch(String(input), init));
    const limiter = createStreamLimiterClient({ baseUrl: 'https://limiter.test', events: false });

    const session = await limiter.start({ userId: 'alice' });
    await session.stop();

    expect(spy).toHaveBeenCalledTimes(2);
    spy.mockRestore();
  });

  it('reports a 2xx answer that is not JSON as INVALID_RESPONSE', async () => {
    const limiter = createStreamLimiterClient({
      baseUrl: 'https://limiter.test',
      fetch: async () =>
        new Response('<html>captive portal</html>', { status: 200, headers: { 'content-type': 'text/html' } }),
    });

    const error = await limiter.list('alice').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StreamLimiterError);
    expect(error).toMatchObject({ status: 200, code: 'INVALID_RESPONSE' });
  });

  it('exposes the X-Request-Id of a failed answer for support tickets', async () => {
    const limiter = createStreamLimiterClient({
      baseUrl: 'https://limiter.test',
      fetch: async () =>
        new Response(
          JSON.stringify({
            type: 'about:blank',
            title: 'Forbidden',
            status: 403,
            detail: 'not yours',
            code: 'FORBIDDEN',
          }),
          {
            status: 403,
            headers: { 'content-type': 'application/problem+json', 'x-request-id': 'abc-123' },
          },
        ),
    });

    const error = await limiter.list('alice').catch((e: unknown) => e);

    expect(error).toMatchObject({
      status: 403,
      code: 'FORBIDDEN',
      requestId: 'abc-123',
      message: expect.stringContaining('not yours'),
    });
  });
});
