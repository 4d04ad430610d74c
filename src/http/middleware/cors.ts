import type { RequestHandler } from 'express';

const ALLOWED_HEADERS = 'Authorization, Content-Type, X-Request-Id';
// Date lets the player SDK correct for a skewed device clock when tracking its lease.
const EXPOSED_HEADERS = 'X-Request-Id, Retry-After, RateLimit, RateLimit-Policy, Date';

/**
 * CORS for browser players on CORS_ORIGINS. Preflights are answered by each
 * route's OPTIONS handler (204 with Allow); this adds the CORS headers when
 * the origin is allowed, and nothing otherwise.
 */
export function cors(origins: readonly string[] | '*' | undefined): RequestHandler {
  if (origins === undefined) return (_req, _res, next) => next();
  const allowed = origins === '*' ? undefined : new Set(origins);
  return (req, res, next) => {
    const origin = req.headers.origin;
    if (typeof origin === 'string' && (allowed === undefined || allowed.has(origin))) {
      res.setHeader('Access-Control-Allow-Origin', allowed === undefined ? '*' : origin);
      res.vary('Origin');
      res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS);
      if (req.method === 'OPTIONS' && req.headers['access-control-request-method']) {
        res.setHeader('Access-Control-Allow-Headers', ALLOWED_HEADERS);
        res.setHeader('Access-Control-Max-Age', '600');
      }
    }
    next();
  };
}
