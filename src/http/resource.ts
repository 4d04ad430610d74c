import type { RequestHandler, Router } from 'express';
import { MethodNotAllowed } from '../errors';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** What the router serves, for the OpenAPI document and its drift test. */
export interface RouteEntry {
  readonly path: string;
  readonly methods: readonly Method[];
}

/**
 * Registers a path with its methods, and answers the rest the way the
 * contract says: OPTIONS 204 with Allow, any other method 405 with Allow.
 */
export function resource(
  router: Router,
  registry: RouteEntry[],
  path: string,
  handlers: Partial<Record<Method, RequestHandler[]>>,
): void {
  const methods = Object.keys(handlers) as Method[];
  const allow = [...methods.flatMap((method) => (method === 'GET' ? ['GET', 'HEAD'] : [method])), 'OPTIONS'];
  const route = router.route(path);
  for (const method of methods) {
    route[method.toLowerCase() as Lowercase<Method>](...handlers[method]!);
  }
  route.options((_req, res) => {
    res.setHeader('Allow', allow.join(', '));
    if (res.getHeader('Access-Control-Allow-Origin')) res.setHeader('Access-Control-Allow-Methods', allow.join(', '));
    res.status(204).end();
  });
  route.all((req, _res, next) => next(new MethodNotAllowed(req.method, req.originalUrl.split('?')[0] ?? path, allow)));
  registry.push({ path, methods });
}
