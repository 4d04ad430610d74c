import { Router } from 'express';
import type { Readiness } from '../../readiness';
import { resource, type RouteEntry } from '../resource';

/** Liveness and readiness for load balancers and orchestrators; never rate-limited or authenticated. */
export function operationRoutes(readiness: Readiness, registry: RouteEntry[]): Router {
  const router = Router();
  resource(router, registry, '/healthz', {
    GET: [(_req, res) => void res.status(200).json({ status: 'ok' })],
  });
  resource(router, registry, '/readyz', {
    GET: [
      async (_req, res) => {
        const state = await readiness.check();
        res.setHeader('Cache-Control', 'no-store');
        res
          .status(state.ready ? 200 : 503)
          .json({ status: state.ready ? 'ready' : 'unavailable', ...(state.reason && { reason: state.reason }) });
      },
    ],
  });
  return router;
}
