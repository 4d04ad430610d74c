import { isIP } from 'node:net';
import { z } from 'zod';

// What one variable's value may look like. Every check carries the text that completes
// "VARIABLE must be ...", the one line an operator reads; a check without one would print
// zod's generic "Invalid input".

/** Where the lease table lives. */
export type StoreEndpoint = { kind: 'embedded' } | { kind: 'aws' } | { kind: 'url'; url: string };

/** Express's `trust proxy`: off, a hop count, or the trusted proxies' addresses/CIDRs; never `true`. */
export type TrustProxy = false | number | string[];

/**
 * Decimal digits only: Number() would also take 1e3, 0x10 and 2.5. z.number(), not z.int(): the
 * latter's safe-integer check carries zod's own text, which a 20-digit value would print.
 */
export const integer = (min: number, max: number, allowed = `an integer from ${min} to ${max}`) =>
  z
    .string()
    .regex(/^-?\d+$/, allowed)
    .transform(Number)
    .pipe(z.number().min(min, allowed).max(max, allowed));

export const oneOf = <const T extends readonly [string, ...string[]]>(choices: T) =>
  z.enum(choices, `one of ${choices.join(', ')}`);

export const trueOrFalse = z.stringbool({
  truthy: ['true'],
  falsy: ['false'],
  case: 'sensitive',
  error: 'one of true, false',
});

export const hostName = z
  .string()
  .regex(/^[A-Za-z0-9.:-]{1,253}$/, 'an IP address or host name to listen on (e.g. 127.0.0.1)');
export const tableName = z.string().regex(/^[A-Za-z0-9_.-]{3,255}$/, '3-255 characters from A-Z a-z 0-9 _ . -');
export const regionName = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'an AWS region name like us-east-1');

const ENDPOINT_ALLOWED = '"embedded", "aws" or an http(s) URL';
export const storeEndpoint = z.union(
  [
    z.enum(['embedded', 'aws'], ENDPOINT_ALLOWED).transform((kind): StoreEndpoint => ({ kind })),
    z.url({ protocol: /^https?$/, error: ENDPOINT_ALLOWED }).transform((url): StoreEndpoint => ({ kind: 'url', url })),
  ],
  ENDPOINT_ALLOWED,
);

const BASE_PATH_ALLOWED = 'a path prefix like /dev (letters, digits, . _ ~ - between slashes)';
/** Trailing slashes are dropped, so `/` alone means no prefix. */
export const basePath = z
  .string()
  .transform((path) => path.replace(/\/+$/, ''))
  .pipe(z.string().regex(/^(\/[A-Za-z0-9._~-]+)*$/, BASE_PATH_ALLOWED));

/** Comma-separated items; empty items (a trailing comma) are dropped. */
const commaSeparated = z.string().transform((raw) =>
  raw
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean),
);

const CORS_ALLOWED = '"*" or comma-separated origins like https://player.example.com';
export const corsOrigins = z.union(
  [z.literal('*'), commaSeparated.pipe(z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, CORS_ALLOWED)))],
  CORS_ALLOWED,
);

const TRUST_PROXY_ALLOWED =
  'false, a hop count from 1 to 10, or comma-separated addresses/CIDRs of trusted proxies (true is refused: it lets any client choose its address)';

/** An address or CIDR whose prefix does not trust the whole internet (0.0.0.0/0 is `true` by another name). */
function trustedProxyEntry(entry: string): boolean {
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  const bits = Number(prefix);
  return bits >= 1 && bits <= (family === 4 ? 32 : 128);
}

export const trustProxy = z.union(
  [
    z.literal('false', TRUST_PROXY_ALLOWED).transform((): TrustProxy => false),
    integer(1, 10, TRUST_PROXY_ALLOWED),
    commaSeparated.pipe(z.array(z.string().refine(trustedProxyEntry, TRUST_PROXY_ALLOWED)).min(1, TRUST_PROXY_ALLOWED)),
  ],
  TRUST_PROXY_ALLOWED,
);

/** A loopback host (127.0.0.0/8, ::1, localhost): the only place plain http: or ws: is accepted, for tests. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}
