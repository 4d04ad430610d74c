import { z } from 'zod';
import { integer, isLoopbackHost, oneOf } from './values';

export type AuthConfig =
  | { mode: 'none' }
  | {
      mode: 'jwt';
      secret?: string;
      jwksUrl?: string;
      issuer?: string;
      audience?: string;
      /** Longest accepted token lifetime: exp - iat (or exp - now without iat). */
      maxTtlSeconds: number;
    };

/** The authentication variables; which must be set depends on AUTH_MODE (authRules) and the store. */
export const authVariables = z.object({
  AUTH_MODE: oneOf(['none', 'jwt']).optional(),
  AUTH_JWT_MAX_TTL_SECONDS: integer(60, 2_592_000).default(86400),
  AUTH_JWT_SECRET: z.string().optional(),
  AUTH_JWKS_URL: z.string().optional(),
  AUTH_JWT_ISSUER: z.string().optional(),
  AUTH_JWT_AUDIENCE: z.string().optional(),
});

type AuthVariables = z.output<typeof authVariables>;

/** Reports one broken rule; `received` is stated by the rule, so a secret is never echoed. */
export type Refuse = (variable: string, allowed: string, received: string | undefined) => void;

/** Plain http: would let anyone on the path swap the signing keys; loopback is allowed for tests. */
function servesKeysSafely(raw: string): boolean {
  const url = URL.canParse(raw) ? new URL(raw) : undefined;
  return url?.protocol === 'https:' || (url?.protocol === 'http:' && isLoopbackHost(url.hostname));
}

/** What AUTH_MODE=jwt needs, first broken rule only. */
export function jwtRules(v: AuthVariables, refuse: Refuse): void {
  const secret = v.AUTH_JWT_SECRET;
  const jwks = v.AUTH_JWKS_URL;
  if ((secret === undefined) === (jwks === undefined)) {
    refuse(
      secret === undefined ? 'AUTH_JWT_SECRET' : 'AUTH_JWKS_URL',
      'set, exactly one of AUTH_JWT_SECRET and AUTH_JWKS_URL, when AUTH_MODE=jwt',
      secret === undefined ? undefined : '<both set>',
    );
  } else if (secret !== undefined && Buffer.byteLength(secret) < 32) {
    refuse('AUTH_JWT_SECRET', 'at least 32 bytes (256 bits) for HS256', '<too short>');
  } else if (jwks !== undefined && !servesKeysSafely(jwks)) {
    refuse('AUTH_JWKS_URL', 'an https: URL (plain http: only for a loopback host: 127.0.0.0/8, ::1, localhost)', jwks);
  } else if (jwks !== undefined && v.AUTH_JWT_AUDIENCE === undefined) {
    // An identity provider's keys sign tokens for all its applications; only aud says this one is ours.
    refuse(
      'AUTH_JWT_AUDIENCE',
      "set when AUTH_JWKS_URL is used (the aud your identity provider puts in this service's tokens)",
      undefined,
    );
  }
}

export function authConfig(v: AuthVariables): AuthConfig {
  if (v.AUTH_MODE !== 'jwt') return { mode: 'none' };
  return {
    mode: 'jwt',
    secret: v.AUTH_JWT_SECRET,
    jwksUrl: v.AUTH_JWKS_URL,
    issuer: v.AUTH_JWT_ISSUER,
    audience: v.AUTH_JWT_AUDIENCE,
    maxTtlSeconds: v.AUTH_JWT_MAX_TTL_SECONDS,
  };
}
