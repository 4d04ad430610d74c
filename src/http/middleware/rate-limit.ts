import type { RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import type { Principal } from '../../auth/token-verifier';
import { RateLimited } from '../../errors';

/**
 * RATE_LIMIT_PER_MINUTE per client: the verified token's user when there is
 * one, else the client address (as Express sees it through TRUST_PROXY).
 * Counters live in this process, so N instances behind a balancer allow up
 * to N times the limit; the README says what to use when that matters.
 */
export function rateLimitPerClient(perMinute: number): RequestHandler | undefined {
  if (perMinute === 0) return undefined;
  return rateLimit({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: (req, res) => {
      const principal = res.locals.principal as Principal | undefined;
      // IPv6 clients are grouped by /56 so one host cannot rotate addresses to dodge the limit.
      return principal ? `user:${principal.userId}` : `ip:${ipKeyGenerator(req.ip ?? 'unknown')}`;
    },
    handler: (req, _res, next) => {
      const resetTime = (req as { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
      const seconds = resetTime ? Math.max(1, Math.ceil((resetTime.getTime() - Date.now()) / 1000)) : 60;
      next(new RateLimited(seconds));
    },
    // TRUST_PROXY is the operator's documented choice; warning about it on every start helps nobody.
    validate: { trustProxy: false, xForwardedForHeader: false },
  });
}
