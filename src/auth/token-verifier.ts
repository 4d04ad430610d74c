import { createRemoteJWKSet, jwtVerify, errors, type JWTVerifyGetKey } from 'jose';
import type { AuthConfig } from '../config';

export const ADMIN_SCOPE = 'streams:admin';

/** Who a verified token speaks for. */
export interface Principal {
  readonly userId: string;
  readonly admin: boolean;
}

/** Why a token was refused; `detail` is safe to show the caller. */
export class TokenRejected extends Error {
  constructor(readonly detail: string) {
    super(detail);
    this.name = 'TokenRejected';
  }
}

export type TokenVerifier = (token: string) => Promise<Principal>;

const CLOCK_TOLERANCE_SECONDS = 30;

function scopes(claim: unknown): string[] {
  if (typeof claim === 'string') return claim.split(' ').filter(Boolean);
  if (Array.isArray(claim)) return claim.filter((scope): scope is string => typeof scope === 'string');
  return [];
}

function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'the token has expired';
  if (error instanceof errors.JWTClaimValidationFailed && error.reason === 'missing')
    return `the token has no ${error.claim} claim`;
  if (error instanceof errors.JWTClaimValidationFailed) return `the token's ${error.claim} claim is not accepted`;
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the token signature is not valid';
  if (error instanceof errors.JOSEAlgNotAllowed)
    return 'the token is signed with an algorithm this service does not accept';
  if (error instanceof errors.JWKSNoMatchingKey) return 'no signing key matches the token';
  if (error instanceof errors.JWKSTimeout) return 'the signing keys could not be fetched in time';
  if (!(error instanceof errors.JOSEError)) return 'the signing keys could not be fetched';
  return 'the token is malformed or not valid';
}

/**
 * A leaked token must stop working: its lifetime, from `iat` (or from now
 * without one) to `exp`, may not exceed the configured maximum. A future `iat`
 * cannot stretch it: `exp` is also bounded from now (with the clock tolerance).
 */
function checkLifetime(payload: { exp?: number; iat?: number }, maxTtlSeconds: number, nowSeconds: number): void {
  const exp = payload.exp!; // required by jwtVerify's requiredClaims
  const fromIssue = payload.iat === undefined ? 0 : exp - payload.iat;
  const fromNow = exp - nowSeconds - CLOCK_TOLERANCE_SECONDS;
  if (Math.max(fromIssue, fromNow) > maxTtlSeconds) {
    throw new TokenRejected(`the token's lifetime exceeds ${maxTtlSeconds} s`);
  }
}

/**
 * Verifies bearer tokens for AUTH_MODE=jwt. Each mode pins its algorithms, so
 * `alg: none` and algorithm confusion (an HS256 token signed with a public
 * RSA key) are refused. `exp` is required (30 s clock tolerance) and the
 * lifetime bounded by AUTH_JWT_MAX_TTL_SECONDS. JWKS keys are cached and
 * refetched when a token names an unknown `kid` (key rotation), at most every 5 s.
 */
export function createTokenVerifier(
  config: Extract<AuthConfig, { mode: 'jwt' }>,
  tuning: { jwksCooldownMs?: number; clock?: () => number } = {},
): TokenVerifier {
  let secret: Uint8Array | undefined;
  let keySet: JWTVerifyGetKey | undefined;
  let algorithms: string[];
  if (config.secret !== undefined) {
    secret = new TextEncoder().encode(config.secret);
    algorithms = ['HS256'];
  } else {
    // An unknown kid refetches the key set (rotation), but at most once per cooldown, so a flood of
    // made-up kids cannot hammer the identity provider.
    keySet = createRemoteJWKSet(new URL(config.jwksUrl!), {
      cooldownDuration: tuning.jwksCooldownMs ?? 5_000,
      cacheMaxAge: 10 * 60_000,
      timeoutDuration: 2_000,
    });
    algorithms = ['RS256', 'ES256'];
  }
  const clock = tuning.clock ?? Date.now;
  const options = {
    algorithms,
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
    requiredClaims: ['exp'],
    ...(config.issuer !== undefined && { issuer: config.issuer }),
    ...(config.audience !== undefined && { audience: config.audience }),
  };

  return async (token) => {
    let payload;
    try {
      const verifyOptions = { ...options, currentDate: new Date(clock()) };
      ({ payload } = secret
        ? await jwtVerify(token, secret, verifyOptions)
        : await jwtVerify(token, keySet!, verifyOptions));
    } catch (error) {
      throw new TokenRejected(describe(error));
    }
    checkLifetime(payload, config.maxTtlSeconds, Math.floor(clock() / 1000));
    if (typeof payload.sub !== 'string' || payload.sub === '') throw new TokenRejected('the token has no sub claim');
    return {
      userId: payload.sub,
      admin: scopes(payload.scope).includes(ADMIN_SCOPE) || scopes(payload.scp).includes(ADMIN_SCOPE),
    };
  };
}
