import type { RequestHandler } from 'express';
import { rateLimit, type Options } from 'express-rate-limit';
import type { Logger } from 'pino';
import { RateLimited } from '../../errors';

/**
 * express-rate-limit reports its configuration checks (a `trust proxy` of true, an X-Forwarded-For
 * header while TRUST_PROXY=false, a Forwarded header it ignores) once each, here as warnings.
 */
function validationLog(logger: Logger): Options['logger'] {
  const report = (error: unknown) => {
    const code = (error as { code?: string }).code ?? 'unknown';
    logger.warn({ code, detail: (error as Error).message }, `rate limiter: ${code}`);
  };
  return { warn: report, error: report };
}

/**
 * RATE_LIMIT_PER_MINUTE per client: the verified token's user when there is
 * one, else the client address (as Express sees it through TRUST_PROXY).
 * Counters live in this process, so N instances behind a balancer allow up
 * to N times the limit; the README says what to use when that matters.
 *
 * Two limiters, one of which runs per request: addresses go through
 * express-rate-limit's own key generator, the only place it runs its
 * trust-proxy validations (a custom key generator skips them), and which
 * groups IPv6 clients by /56 so one host cannot rotate addresses to dodge
 * the limit. Those validations agree with TRUST_PROXY's rules: `true` is
 * refused at start-up anyway, and an X-Forwarded-For arriving while
 * TRUST_PROXY=false usually means a proxy in front that TRUST_PROXY does
 * not name, which would make every player share the proxy's budget.
 */
export function rateLimitPerClient(perMinute: number, logger: Logger): RequestHandler | undefined {
  if (perMinute === 0) return undefined;
  const common: Partial<Options> = {
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    handler: (req, _res, next) => {
      const resetTime = (req as { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
      const seconds = resetTime ? Math.max(1, Math.ceil((resetTime.getTime() - Date.now()) / 1000)) : 60;
      next(new RateLimited(seconds));
    },
    logger: validationLog(logger),
  };
  const perUser = rateLimit({ ...common, keyGenerator: (_req, res) => res.locals.principal!.userId });
  const perAddress = rateLimit(common);
  return (req, res, next) => (res.locals.principal ? perUser : perAddress)(req, res, next);
}
