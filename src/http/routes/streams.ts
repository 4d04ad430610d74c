import { randomUUID } from 'node:crypto';
import { Router, type RequestHandler } from 'express';
import { StoreUnavailable, StreamLimitReached, StreamNotFound, StreamTerminated } from '../../errors';
import type { Lease, Standing } from '../../leases/model';
import { jsonBody } from '../middleware/json-body';
import { resource, type RouteEntry } from '../resource';
import { addStreamBody, checkBody, heartbeatBody, parseInput, removeStreamBody } from '../schemas';
import type { ApiContext } from './context';
import { leaseView, streamRef } from './views';

/** The player's calls: check before showing a play button, add before playback, heartbeat while playing, remove when done. */
export function streamRoutes(context: ApiContext, registry: RouteEntry[]): Router {
  const { store, clock, config, guards, policy } = context;
  const router = Router();

  // Adaptive leases: a long lease comes with a longer interval, at most a third of it.
  const longInterval = Math.max(config.heartbeatIntervalSeconds, Math.floor(config.leaseMaxSeconds / 3));
  const intervalFor = (lease: Lease) =>
    lease.termMs !== undefined && lease.termMs > policy.leaseMs ? longInterval : config.heartbeatIntervalSeconds;

  const leaseBody = (standing: Standing, lease: Lease) => ({
    userId: standing.userId,
    streamId: lease.streamId,
    activeStreams: standing.activeStreams,
    limit: standing.limit,
    expiresAt: new Date(lease.expiresAt).toISOString(),
    heartbeatIntervalSeconds: intervalFor(lease),
    slotsInUse: standing.slotsInUse,
    policy: standing.policy,
  });

  /**
   * STORE_FAILURE_MODE=open: a lease the store never saw, of LEASE_SECONDS, so playback goes on through
   * an outage. Only a store fault leads here, never a decision the store made (a 409 stays a 409).
   * The counts are this stream's alone: the store could not be asked for the others.
   */
  const degraded = (error: unknown, userId: string, streamId: string, weight: number, now: number) => {
    if (config.storeFailureMode !== 'open' || !(error instanceof StoreUnavailable)) throw error;
    context.events.degraded();
    return {
      userId,
      streamId,
      activeStreams: 1,
      limit: policy.defaultLimit,
      expiresAt: new Date(now + policy.leaseMs).toISOString(),
      heartbeatIntervalSeconds: config.heartbeatIntervalSeconds,
      slotsInUse: weight,
      policy: policy.defaultPolicy,
      degraded: true,
    };
  };

  const add: RequestHandler = async (req, res) => {
    const body = parseInput(addStreamBody, req.body);
    context.authorize(req, res, body.userId);
    const now = clock();
    const command = { ...body, streamId: body.streamId ?? randomUUID() };
    const result = await store.admitStream(command, now).catch((error: unknown) => {
      res.status(201).json(degraded(error, command.userId, command.streamId, command.weight ?? 1, now));
      return undefined;
    });
    if (!result) return;
    if (result.outcome === 'rejected') {
      context.events.rejected();
      throw new StreamLimitReached(body.userId, result.standing.limit, result.standing.live.map(leaseView));
    }
    if (result.outcome === 'admitted') context.events.admitted();
    if (result.evicted.length > 0) context.events.evicted(result.evicted.length);
    res.status(result.outcome === 'admitted' ? 201 : 200).json({
      ...leaseBody(result.standing, result.lease),
      ...(result.evicted.length > 0 && { evicted: result.evicted.map(streamRef) }),
    });
  };

  const heartbeat: RequestHandler = async (req, res) => {
    const body = parseInput(heartbeatBody, req.body);
    context.authorize(req, res, body.userId);
    const now = clock();
    const result = await store.renewLease(body, now).catch((error: unknown) => {
      res.status(200).json(degraded(error, body.userId, body.streamId, 1, now));
      return undefined;
    });
    if (!result) return;
    switch (result.outcome) {
      case 'renewed':
        res.status(200).json(leaseBody(result.standing, result.lease));
        return;
      case 'terminated': {
        context.events.terminated();
        const { reason, replacedBy } = result.termination;
        throw new StreamTerminated(body.userId, body.streamId, { reason, ...(replacedBy && { replacedBy }) });
      }
      case 'not-found':
        throw new StreamNotFound(body.userId, body.streamId);
    }
  };

  const remove: RequestHandler = async (req, res) => {
    const body = parseInput(removeStreamBody, req.body);
    context.authorize(req, res, body.userId);
    const now = clock();
    const result = await store.releaseStream(body, now);
    res.status(200).json({
      userId: body.userId,
      streamId: result.streamId,
      removed: result.outcome === 'removed',
      activeStreams: result.standing.activeStreams,
      limit: result.standing.limit,
    });
  };

  const check: RequestHandler = async (req, res) => {
    const body = parseInput(checkBody, req.body);
    context.authorize(req, res, body.userId);
    const now = clock();
    const { standing, allowed, wouldEvict } = await store.checkAdmission(body.userId, body.weight ?? 1, now);
    res.status(200).json({
      userId: body.userId,
      allowed,
      activeStreams: standing.activeStreams,
      slotsInUse: standing.slotsInUse,
      limit: standing.limit,
      policy: standing.policy,
      streams: standing.live.map(leaseView),
      ...(standing.policy === 'evict-oldest' && { wouldEvict: wouldEvict.map(streamRef) }),
    });
  };

  resource(router, registry, '/streams/add', { POST: [...guards, jsonBody, add] });
  resource(router, registry, '/streams/heartbeat', { POST: [...guards, jsonBody, heartbeat] });
  resource(router, registry, '/streams/remove', { POST: [...guards, jsonBody, remove] });
  resource(router, registry, '/streams/check', { POST: [...guards, jsonBody, check] });
  return router;
}
