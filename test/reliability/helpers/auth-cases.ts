import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { base64url, SignJWT } from 'jose';
import type { Answer } from './http-client';
import type { HostileCase } from './hostile-cases';
import { INJECTIONS } from './hostile-cases';
import { validUserId } from './table-check';

/*
 * Hostile bearer tokens for AUTH_MODE=jwt (HS256). What matters most: a token
 * that is unsigned, wrongly signed, expired, of another algorithm or
 * malformed never gets a 2xx (always 401 with WWW-Authenticate: Bearer), and
 * a valid token acts only on its own `sub` unless it carries streams:admin.
 */

export const AUTH_SECRET = 'reliability-suite-secret-of-at-least-32-bytes!';

interface TokenVariant {
  readonly name: string;
  readonly token: string;
  /** The principal a correct service derives from it; undefined when it must be refused. */
  readonly principal?: { readonly sub: string; readonly admin: boolean };
}

const key = new TextEncoder().encode(AUTH_SECRET);
const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: unknown) => base64url.encode(typeof value === 'string' ? value : JSON.stringify(value));

async function signed(
  claims: Record<string, unknown>,
  options: { secret?: Uint8Array; alg?: string } = {},
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? 'HS256', typ: 'JWT' })
    .sign(options.secret ?? key);
}

/** Signs any header by hand (jose refuses to sign some of the headers an attacker would send). */
function handSigned(header: Record<string, unknown>, claims: Record<string, unknown>): string {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}

/** Token variants, valid and not; signing is async, so they are made once before generating cases. */
export async function makeTokens(): Promise<TokenVariant[]> {
  const t = now();
  const valid = async (
    name: string,
    sub: string,
    extra: Record<string, unknown> = {},
    admin = false,
  ): Promise<TokenVariant> => ({
    name,
    token: await signed({ sub, iat: t, exp: t + 600, ...extra }),
    principal: { sub, admin },
  });
  const refused = async (name: string, token: string | Promise<string>): Promise<TokenVariant> => ({
    name,
    token: await token,
  });
  const goodPayload = b64({ sub: 'auth-a', exp: t + 600 });
  const goodToken = await signed({ sub: 'auth-a', exp: t + 600 });
  const [header, , signature] = goodToken.split('.') as [string, string, string];

  return Promise.all([
    valid('user auth-a', 'auth-a'),
    valid('user auth-b', 'auth-b'),
    valid('user with a tricky valid id', 'u:L:'),
    valid('admin (scope)', 'auth-admin', { scope: 'openid streams:admin' }, true),
    valid('admin (scope array)', 'auth-admin2', { scope: ['streams:admin'] }, true),
    valid('admin (scp)', 'auth-admin3', { scp: 'streams:admin' }, true),
    valid('scope that only looks like admin', 'auth-a', {
      scope: 'streams:administrator streams:admin2 xstreams:admin',
    }),
    valid('expired within the 30 s tolerance', 'auth-a', { exp: t - 10 }),
    refused('no exp at all', signed({ sub: 'auth-b', iat: t })),
    valid('sub with an injection attempt', 'a) OR attribute_exists(#x'),
    valid('sub with a lone surrogate', '\uD800x'),
    valid('sub of 2,000 characters', 'a'.repeat(2000)),
    refused('expired 2 minutes ago', signed({ sub: 'auth-a', exp: t - 120 })),
    refused('not valid before 2 minutes from now', signed({ sub: 'auth-a', nbf: t + 120, exp: t + 600 })),
    refused(
      'wrong secret',
      signed(
        { sub: 'auth-a', exp: t + 600 },
        { secret: new TextEncoder().encode('another-secret-of-at-least-32-bytes-long') },
      ),
    ),
    refused(
      'HS512 with the right secret (algorithm not allowed)',
      signed({ sub: 'auth-a', exp: t + 600 }, { alg: 'HS512' }),
    ),
    refused('HS384 with the right secret', signed({ sub: 'auth-a', exp: t + 600 }, { alg: 'HS384' })),
    refused('alg none, no signature', `${b64({ alg: 'none', typ: 'JWT' })}.${goodPayload}.`),
    refused('alg none, with the real signature', `${b64({ alg: 'none' })}.${goodPayload}.${signature}`),
    refused('alg "None"', `${b64({ alg: 'None' })}.${goodPayload}.`),
    refused('RS256 header on an HS256 signature (confusion)', `${b64({ alg: 'RS256' })}.${goodPayload}.${signature}`),
    refused(
      'payload swapped under a valid signature',
      `${header}.${b64({ sub: 'auth-admin', scope: 'streams:admin', exp: t + 600 })}.${signature}`,
    ),
    refused('no sub', signed({ exp: t + 600, scope: 'streams:admin' })),
    refused('empty sub', signed({ sub: '', exp: t + 600 })),
    refused('numeric sub', signed({ sub: 42, exp: t + 600 })),
    refused('sub as an object', signed({ sub: { toString: 'auth-a' }, exp: t + 600 })),
    refused(
      'unknown crit header',
      handSigned({ alg: 'HS256', crit: ['x-unknown'], 'x-unknown': 1 }, { sub: 'auth-a', exp: t + 600 }),
    ),
    refused(
      'b64:false header',
      handSigned({ alg: 'HS256', b64: false, crit: ['b64'] }, { sub: 'auth-a', exp: t + 600 }),
    ),
    refused('payload is not JSON', `${header}.${b64('not json')}.${signature}`),
    refused('payload is an array', `${header}.${b64([1, 2])}.${signature}`),
    refused('header is not JSON', `${b64('{{{')}.${goodPayload}.${signature}`),
    refused('two segments', `${header}.${goodPayload}`),
    refused('four segments', `${goodToken}.x`),
    refused('five segments (JWE shape)', `${header}.a.b.c.d`),
    refused('trailing dot', `${goodToken}.`),
    refused('signature cut short', goodToken.slice(0, -3)),
    refused('empty segments', '..'),
    refused('garbage', 'not-a-token'),
    // Padding after the signature decodes to the same bytes: the token is still authentic, and jose accepts it.
    Promise.resolve({
      name: 'base64 padding after a valid signature',
      token: `${goodToken}==`,
      principal: { sub: 'auth-a', admin: false },
    }),
    refused('exp as a string', signed({ sub: 'auth-a', exp: String(t + 600) })),
    refused('huge token of garbage', 'A'.repeat(7000)),
  ]);
}

type HeaderForm = (token: string) => string | undefined;
const HEADER_FORMS: ReadonlyArray<readonly [string, HeaderForm, boolean]> = [
  ['Bearer <t>', (token) => `Bearer ${token}`, true],
  ['bearer <t>', (token) => `bearer ${token}`, true],
  ['Bearer<tab><t>', (token) => `Bearer\t${token}`, true],
  ['Bearer  <t>  ', (token) => `Bearer  ${token}  `, true],
  ['no header', () => undefined, false],
  ['empty header', () => '', false],
  ['Bearer only', () => 'Bearer', false],
  ['Bearer and a space', () => 'Bearer ', false],
  ['Basic', () => 'Basic YXV0aC1hOnBhc3N3b3Jk', false],
  ['Token <t>', (token) => `Token ${token}`, false],
  ['Bearer <t> <t>', (token) => `Bearer ${token} ${token}`, false],
  ['Bearer "<t>"', (token) => `Bearer "${token}"`, false],
  ['Bearer <t>, Bearer <t>', (token) => `Bearer ${token}, Bearer ${token}`, false],
  ['<t> alone', (token) => token, false],
];

const code = (answer: Answer) => (answer.json as { code?: string } | undefined)?.code;

/** Requests over every API endpoint with every token variant and header form. */
export function authCases(tokens: readonly TokenVariant[], count: number, seed: number): HostileCase[] {
  const target = fc.constantFrom('add', 'heartbeat', 'remove', 'list', 'set-limit', 'clear-limit');
  const userOf = (principal: TokenVariant['principal']) =>
    fc.oneof(
      { weight: 4, arbitrary: fc.constant(principal?.sub ?? 'auth-a') },
      { weight: 2, arbitrary: fc.constantFrom('auth-a', 'auth-b', 'auth-admin', 'someone-else') },
      { weight: 1, arbitrary: fc.constantFrom(...INJECTIONS) },
    );
  const arbitrary = fc
    .tuple(
      fc.oneof(
        fc.constantFrom(...tokens.filter((t) => t.principal)),
        fc.constantFrom(...tokens.filter((t) => !t.principal)),
      ),
      fc.oneof(
        fc.constantFrom(...HEADER_FORMS.filter(([, , accepted]) => accepted)),
        fc.constantFrom(...HEADER_FORMS.filter(([, , accepted]) => !accepted)),
      ),
      target,
    )
    .chain(([variant, form, endpoint]) =>
      userOf(variant.principal).map((userId) => ({ variant, form, endpoint, userId })),
    )
    .map(({ variant, form: [formName, render, acceptedForm], endpoint, userId }): HostileCase => {
      const authorization = render(variant.token);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        ...(authorization !== undefined && { authorization }),
      };
      const path = `/users/${encodeURIComponent(userId.replace(/[\uD800-\uDFFF]/g, '\uFFFD'))}`;
      const request =
        endpoint === 'list'
          ? { method: 'GET', path: `${path}/streams`, headers }
          : endpoint === 'set-limit'
            ? { method: 'PUT', path: `${path}/limit`, headers, body: JSON.stringify({ limit: 5 }) }
            : endpoint === 'clear-limit'
              ? { method: 'DELETE', path: `${path}/limit`, headers }
              : {
                  method: 'POST',
                  path: `/streams/${endpoint}`,
                  headers,
                  body: JSON.stringify({ userId, streamId: 'tv' }),
                };
      const authenticated = variant.principal !== undefined && acceptedForm;
      const admin = endpoint === 'set-limit' || endpoint === 'clear-limit';
      return {
        category: `auth: ${authenticated ? 'valid token' : 'refused token or header'}`,
        request,
        expect: (answer) => {
          const where = `token "${variant.name}" as ${formName}`;
          if (!authenticated) {
            if ((endpoint === 'list' || endpoint === 'set-limit' || endpoint === 'clear-limit') && userId === '') {
              return answer.status === 404 ? undefined : 'an empty path segment is no route (404)';
            }
            if (answer.status !== 401 || code(answer) !== 'UNAUTHENTICATED')
              return `${where} must be 401 UNAUTHENTICATED`;
            return /^Bearer\b/.test(String(answer.headers['www-authenticate']))
              ? undefined
              : `${where}: 401 without WWW-Authenticate: Bearer`;
          }
          const inPath = endpoint === 'list' || admin;
          if (inPath && userId === '')
            return answer.status === 404 ? undefined : 'an empty path segment is no route (404)';
          if (!validUserId(userId))
            return code(answer) === 'VALIDATION_ERROR'
              ? undefined
              : `${where}: an invalid userId must be a VALIDATION_ERROR`;
          const allowed = variant.principal!.admin || (!admin && userId === variant.principal!.sub);
          if (!allowed)
            return answer.status === 403 && code(answer) === 'FORBIDDEN'
              ? undefined
              : `${where} acting on ${userId} must be 403 FORBIDDEN`;
          return answer.status === 401 || answer.status === 403
            ? `${where} acting on its own user was refused`
            : undefined;
        },
      };
    });
  return fc.sample(arbitrary, { numRuns: count, seed });
}
