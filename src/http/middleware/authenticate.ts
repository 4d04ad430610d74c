import type { RequestHandler } from 'express';
import type { TokenVerifier } from '../../auth/token-verifier';
import { TokenRejected } from '../../auth/token-verifier';
import { Unauthenticated } from '../../errors';

const BEARER = /^Bearer[ \t]+([A-Za-z0-9._~+/=-]+)[ \t]*$/i;

/**
 * Verifies the bearer token but only records the outcome: the contract checks
 * the rate limit (keyed by the verified `sub`) before answering 401, so the
 * verdict is delivered by `requireAuthentication`, after the rate limiter.
 */
export function identifyCaller(verify: TokenVerifier): RequestHandler {
  return async (req, res, next) => {
    const header = req.headers.authorization;
    if (header === undefined) {
      res.locals.authError = new Unauthenticated('Missing Authorization: Bearer <token> header.', 'missing');
      return next();
    }
    const match = BEARER.exec(header);
    if (!match) {
      res.locals.authError = new Unauthenticated(
        'The Authorization header must be "Bearer <token>".',
        'invalid_request',
      );
      return next();
    }
    try {
      res.locals.principal = await verify(match[1]!);
    } catch (error) {
      if (!(error instanceof TokenRejected)) throw error;
      res.locals.authError = new Unauthenticated(`The bearer token was refused: ${error.detail}.`, 'invalid_token');
    }
    next();
  };
}

export const requireAuthentication: RequestHandler = (_req, res, next) => {
  next(res.locals.authError);
};
