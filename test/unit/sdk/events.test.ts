import { EventStreamParser, StreamTerminatedError, type ServerSentEvent } from '../../../sdk/src/index';
import { names, recordEvents, setup } from './kit';

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

const eventRequests = (server: ReturnType<typeof setup>['server']) =>
  server.requests.filter((r) => r.path.startsWith('/streams/events?'));

describe('EventStreamParser', () => {
  it('reassembles events and comments split anywhere, with LF, CR or CRLF line ends', () => {
    const events: ServerSentEvent[] = [];
    const comments: string[] = [];
    const parser = new EventStreamParser(
      (event) => events.push(event),
      (text) => comments.push(text),
    );
    const text = ': keep-alive\r\n\r\nevent: terminated\r\ndata: {"reason":\r\ndata: "removed"}\r\n\r\ndata: plain\n\n';
    for (const chunk of [text.slice(0, 5), text.slice(5, 31), text.slice(31, 32), text.slice(32)]) parser.push(chunk);

    expect(comments).toEqual(['keep-alive']);
    expect(events).toEqual([
      { event: 'terminated', data: '{"reason":\n"removed"}' },
      { event: 'message', data: 'plain' },
    ]);
  });
});

describe('the event stream (GET /streams/events)', () => {
  it('is opened with fetch and the bearer header, and a pushed termination ends the session at once', async () => {
    const { server, limiter } = setup({ events: true, getToken: () => 'tok' });
    server.token = 'tok';
    const session = await limiter.start({ userId: 'alice', deviceId: 'tv' });
    const events = recordEvents(session);
    await jest.advanceTimersByTimeAsync(0);
    expect(eventRequests(server)).toHaveLength(1);
    expect(eventRequests(server)[0]).toMatchObject({
      method: 'GET',
      path: `/streams/events?userId=alice&streamId=${session.streamId}`,
      headers: { accept: 'text/event-stream', authorization: 'Bearer tok' },
    });

    server.keepAlive();
    await jest.advanceTimersByTimeAsync(100);
    expect(session.state).toBe('active');
    // Another device evicts this one, long before the next heartbeat (30 s).
    server.evict('alice', session.streamId, { streamId: 'phone-1', deviceId: 'phone' });
    await jest.advanceTimersByTimeAsync(0);

    expect(session.state).toBe('terminated');
    expect(events).toEqual([
      [
        'terminated',
        {
          reason: 'evicted',
          replacedBy: { streamId: 'phone-1', deviceId: 'phone' },
          source: 'events',
          error: expect.any(StreamTerminatedError),
        },
      ],
    ]);
    expect(server.requestsTo('/streams/heartbeat')).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(120_000);
    expect(server.requestsTo('/streams/heartbeat')).toHaveLength(0);
    expect(eventRequests(server)).toHaveLength(1);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('reconnects with back-off when the stream drops, while heartbeats go on regardless', async () => {
    const { server, limiter } = setup({ events: true });
    const session = await limiter.start({ userId: 'alice' });
    await jest.advanceTimersByTimeAsync(0);

    server.dropEventStreams();
    await jest.advanceTimersByTimeAsync(0);
    expect(eventRequests(server)).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1000); // first back-off: 0.5–1 s
    expect(eventRequests(server)).toHaveLength(2);

    // While the event stream is down (every connect fails), heartbeats stay the truth.
    server.dropEventStreams();
    server.fail({ kind: 'network' }, 3);
    await jest.advanceTimersByTimeAsync(30_000);
    expect(server.requestsTo('/streams/heartbeat').length).toBeGreaterThanOrEqual(1);
    expect(session.state).toBe('active');
    expect(server.openEventStreams).toHaveLength(1);
    await session.stop();
    expect(server.openEventStreams).toHaveLength(0);
  });

  it('on 404 STREAM_NOT_FOUND at connect asks a heartbeat at once: a 410 then ends the session', async () => {
    const { server, limiter } = setup({ events: true, generateStreamId: () => 's1' });
    // The connect is slow, and the stream is removed before it lands: the push is missed.
    server.fail({ kind: 'delay', ms: 50 }, 1, '/streams/events?userId=alice&streamId=s1');
    const session = await limiter.start({ userId: 'alice' });
    const events = recordEvents(session);
    await limiter.remove({ userId: 'alice', streamId: 's1' });
    await jest.advanceTimersByTimeAsync(100);

    expect(server.requestsTo('/streams/heartbeat')).toHaveLength(1);
    expect(names(events)).toEqual(['terminated']);
    expect(events[0]?.[1]).toMatchObject({ reason: 'removed', source: 'heartbeat' });
  });

  it('gives up on a service without the event stream (404 NOT_FOUND) and relies on heartbeats', async () => {
    const { server, limiter } = setup({ events: true });
    server.eventStreams = false;
    const session = await limiter.start({ userId: 'alice' });
    await jest.advanceTimersByTimeAsync(95_000);

    expect(eventRequests(server)).toHaveLength(1);
    expect(server.requestsTo('/streams/heartbeat')).toHaveLength(3);
    expect(session.state).toBe('active');
    await session.stop();
  });
});
