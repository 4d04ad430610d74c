import type { RequestHandler } from 'express';
import type { Logger } from 'pino';

/**
 * One JSON line per finished request, carrying the request id, the client
 * address as Express sees it through TRUST_PROXY (`ip`) and, when a bearer
 * token verified, its `sub`: who changed a user's limit can be told from the
 * log. Hand-written
 * rather than pino-http: this is the hot path, and a plain listener costs a
 * fraction of pino-http's per-request child logger and serializers.
 */
export function requestLog(logger: Logger): RequestHandler {
  if (!logger.isLevelEnabled('info')) return (_req, _res, next) => next();
  return (req, res, next) => {
    const started = performance.now();
    res.once('finish', () => {
      logger.info({
        reqId: res.locals.requestId,
        ip: req.ip,
        sub: res.locals.principal?.userId,
        method: req.method,
        path: req.originalUrl,
        status: res.statusCode,
        ms: Math.round((performance.now() - started) * 10) / 10,
      });
    });
    next();
  };
}
