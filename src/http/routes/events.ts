import { Router, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { ApiError, StreamNotFound } from '../../errors';
import type { StreamTerminated } from '../../events/change-feed';
import type { FeedSignal, TerminationFeed } from '../../events/termination-feed';
import { isLive } from '../../leases/lease-rules';
import { resource, type RouteEntry } from '../resource';
import { parseInput, streamIdSchema, userIdSchema } from '../schemas';
import type { ApiContext } from './context';

export const streamEventsQuery = z
  .strictObject({ userId: userIdSchema, streamId: streamIdSchema })
  .meta({ id: 'StreamEventsQuery' });

/** Under the 25 s the contract promises, and well under an ALB's (60 s) or a proxy's idle timeout. */
export const KEEP_ALIVE_MS = 20_000;

/** No event stream here: the feature is off, or the instance is closing its streams. Heartbeats still work. */
export class EventsUnavailable extends ApiError {
  constructor(reason: 'off' | 'draining') {
    super(
      503,
      'STORE_UNAVAILABLE',
      'Event stream unavailable',
      reason === 'off'
        ? 'This service does not push stream events (STREAM_EVENTS=off); keep heartbeating, which remains the source of truth.'
        : 'This instance is shutting down; reconnect (another instance will answer) and keep heartbeating meanwhile.',
      {},
      { 'Retry-After': reason === 'off' ? '300' : '1' },
    );
  }
}

/** The `data` of a `terminated` event: the 410 body's reason and replacedBy, with whose stream it was. */
export function terminatedData(event: StreamTerminated): Record<string, unknown> {
  return {
    userId: event.userId,
    streamId: event.streamId,
    reason: event.reason,
    ...(event.replacedBy && { replacedBy: event.replacedBy }),
  };
}

/**
 * One timer for every open stream of this instance, rather than one each: a thousand idle players
 * cost a thousand sockets and a Set entry, not a thousand timers.
 */
class KeepAlive {
  private readonly open = new Set<Response>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly intervalMs: number) {}

  add(res: Response): void {
    this.open.add(res);
    if (!this.timer) {
      this.timer = setInterval(() => {
        for (const stream of this.open) stream.write(': keep-alive\n\n');
      }, this.intervalMs);
      this.timer.unref();
    }
  }

  delete(res: Response): void {
    this.open.delete(res);
    if (this.open.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

/**
 * GET /streams/events: Server-Sent Events for one live stream. The player learns it was removed,
 * replaced or evicted within the change feed's delay instead of at its next heartbeat, which with
 * adaptive leases may be minutes away.
 */
export function eventRoutes(
  context: ApiContext,
  registry: RouteEntry[],
  feed: TerminationFeed | undefined,
  options: { keepAliveMs?: number } = {},
): Router {
  const { store, clock, guards } = context;
  const router = Router();
  const keepAlive = new KeepAlive(options.keepAliveMs ?? KEEP_ALIVE_MS);

  const events: RequestHandler = async (req, res) => {
    const { userId, streamId } = parseInput(streamEventsQuery, req.query);
    context.authorize(req, res, userId);
    if (!feed) throw new EventsUnavailable('off');
    if (feed.isClosing) throw new EventsUnavailable('draining');

    // Listen before reading, so a termination written after the read cannot slip between them;
    // one written before it makes the read say "not live".
    let pending: FeedSignal | undefined;
    let deliver = (signal: FeedSignal) => void (pending ??= signal);
    const unsubscribe = feed.subscribe(userId, streamId, (signal) => deliver(signal));
    let state;
    try {
      state = await store.readUser(userId, clock());
    } catch (error) {
      unsubscribe();
      throw error;
    }
    if (!isLive(state.leases.get(streamId), clock())) {
      unsubscribe();
      throw new StreamNotFound(userId, streamId);
    }

    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    // no-transform: a compressing proxy would otherwise hold events back to fill its buffer.
    res.setHeader('Cache-Control', 'no-store, no-transform');
    res.setHeader('X-Accel-Buffering', 'no');
    if (req.method === 'HEAD') {
      unsubscribe();
      res.end();
      return;
    }
    res.flushHeaders();
    // A first comment gets the headers through any buffering proxy and tells the player it is connected.
    res.write(': connected\n\n');
    keepAlive.add(res);

    const finish = () => {
      unsubscribe();
      keepAlive.delete(res);
      if (!res.writableEnded) res.end();
    };
    res.once('close', finish);
    deliver = (signal) => {
      if (signal.kind === 'terminated')
        res.write(`event: terminated\ndata: ${JSON.stringify(terminatedData(signal.event))}\n\n`);
      finish();
    };
    if (pending) deliver(pending);
  };

  resource(router, registry, '/streams/events', { GET: [...guards, events] });
  return router;
}
