import { randomUUID } from 'node:crypto';
import { Router, type RequestHandler } from 'express';
import { StreamLimitReached, StreamNotFound, StreamTerminated } from '../../errors';
import { effectiveLimit, liveLeases } from '../../leases/lease-rules';
import type { Lease, UserState } from '../../leases/model';
import { jsonBody } from '../middleware/json-body';
import { resource, type RouteEntry } from '../resource';
import { addStreamBody, heartbeatBody, parseInput, removeStreamBody } from '../schemas';
import type { ApiContext } from './context';
import { leaseView } from './views';

/** The player's three calls: add before playback, heartbeat while playing, remove when done. */
export function streamRoutes(context: ApiContext, registry: RouteEntry[]): Router {
  const { store, clock, config, guards, policy } = context;
  const router = Router();

  const leaseBody = (state: UserState, lease: Lease, now: number) => ({
    userId: state.userId,
    streamId: lease.streamId,
    activeStreams: liveLeases(state, now).length,
    limit: effectiveLimit(state, policy),
    expiresAt: new Date(lease.expiresAt).toISOString(),
    heartbeatIntervalSeconds: config.heartbeatIntervalSeconds,
  });

  const add: RequestHandler = async (req, res) => {
    const body = parseInput(addStreamBody, req.body);
    context.authorize(req, res, body.userId);
    const now = clock();
    const result = await store.admitStream({ ...body, streamId: body.streamId ?? randomUUID() }, now);
    if (result.outcome === 'rejected') {
      context.events.rejected();
      throw new StreamLimitReached(body.userId, result.limit, result.live.map(leaseView));
    }
    if (result.outcome === 'admitted') context.events.admitted();
    res.status(result.outcome === 'admitted' ? 201 : 200).json(leaseBody(result.state, result.lease, now));
  };

  const heartbeat: RequestHandler = async (req, res) => {
    const body = parseInput(heartbeatBody, req.body);
    context.authorize(req, res, body.userId);
    const now = clock();
    const result = await store.renewLease(body, now);
    switch (result.outcome) {
      case 'renewed':
        res.status(200).json(leaseBody(result.state, result.lease, now));
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
      activeStreams: liveLeases(result.state, now).length,
      limit: effectiveLimit(result.state, policy),
    });
  };

  resource(router, registry, '/streams/add', { POST: [...guards, jsonBody, add] });
  resource(router, registry, '/streams/heartbeat', { POST: [...guards, jsonBody, heartbeat] });
  resource(router, registry, '/streams/remove', { POST: [...guards, jsonBody, remove] });
  return router;
}
