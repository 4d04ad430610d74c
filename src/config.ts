import { isIP } from 'node:net';
import { z } from 'zod';
import { ADMISSION_POLICIES, type AdmissionPolicy } from './leases/model';

/** Where the lease table lives. */
export type StoreEndpoint = { kind: 'embedded' } | { kind: 'aws' } | { kind: 'url'; url: string };

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

/** Express's `trust proxy`: off, a hop count, or the trusted proxies' addresses/CIDRs; never `true`. */
export type TrustProxy = false | number | string[];

export interface Config {
  readonly port: number;
  /**
   * Listen address; undefined = every interface (what a container needs). Defaults to 127.0.0.1 with
   * the embedded store, so a laptop's dev server is not reachable from the network it sits on.
   */
  readonly host: string | undefined;
  /** When set, /metrics is served only on this port (same host), never on `port`. */
  readonly metricsPort: number | undefined;
  readonly streamLimit: number;
  /** What a full user's add does: refuse (409) or end the oldest stream (STREAM_POLICY). */
  readonly streamPolicy: AdmissionPolicy;
  readonly leaseSeconds: number;
  /** Longest lease for a user with headroom (adaptive leases); equal to leaseSeconds turns them off. */
  readonly leaseMaxSeconds: number;
  /** `open`: store faults on add/heartbeat answer a degraded, unstored lease instead of 503. */
  readonly storeFailureMode: 'closed' | 'open';
  readonly heartbeatIntervalSeconds: number;
  readonly table: string;
  readonly endpoint: StoreEndpoint;
  readonly timeoutMs: number;
  readonly region: string;
  readonly basePath: string;
  readonly corsOrigins: readonly string[] | '*' | undefined;
  readonly trustProxy: TrustProxy;
  readonly auth: AuthConfig;
  readonly rateLimitPerMinute: number;
  readonly logLevel: string;
  /** METRICS_EMF: also write the business metrics as CloudWatch Embedded Metric Format lines to stdout. */
  readonly metricsEmf: boolean;
  /** STREAM_EVENTS: where GET /streams/events learns of terminations (see docs/change-feed.md). */
  readonly streamEvents: 'table' | 'off';
}

/** A bad environment variable: the message is the one line printed before exiting. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    allowed: string,
    received: string | undefined,
  ) {
    super(`invalid configuration: ${variable} must be ${allowed} (got ${JSON.stringify(received)})`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

// Every check below carries the text that completes "VARIABLE must be ...": the one line an operator
// reads. A check without one would print zod's generic "Invalid input".

/** Decimal digits only: Number() would also take 1e3, 0x10 and 2.5. */
const integer = (min: number, max: number, allowed = `an integer from ${min} to ${max}`) =>
  z
    .string()
    .regex(/^-?\d+$/, allowed)
    .transform(Number)
    .pipe(z.number().min(min, allowed).max(max, allowed));

const oneOf = <const T extends readonly [string, ...string[]]>(choices: T) =>
  z.enum(choices, `one of ${choices.join(', ')}`);

const hostName = z
  .string()
  .regex(/^[A-Za-z0-9.:-]{1,253}$/, 'an IP address or host name to listen on (e.g. 127.0.0.1)');
const tableName = z.string().regex(/^[A-Za-z0-9_.-]{3,255}$/, '3-255 characters from A-Z a-z 0-9 _ . -');
const regionName = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'an AWS region name like us-east-1');
const trueOrFalse = z.stringbool({
  truthy: ['true'],
  falsy: ['false'],
  case: 'sensitive',
  error: 'one of true, false',
});

/** Comma-separated items; empty items (a trailing comma) are dropped. */
const commaSeparated = z.string().transform((raw) =>
  raw
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean),
);

const ENDPOINT_ALLOWED = '"embedded", "aws" or an http(s) URL';
const storeEndpoint = z.union(
  [
    z.enum(['embedded', 'aws'], ENDPOINT_ALLOWED).transform((kind) => ({ kind })),
    z.url({ protocol: /^https?$/, error: ENDPOINT_ALLOWED }).transform((url) => ({ kind: 'url' as const, url })),
  ],
  ENDPOINT_ALLOWED,
);

const CORS_ALLOWED = '"*" or comma-separated origins like https://player.example.com';
const corsOrigins = z.union(
  [z.literal('*'), commaSeparated.pipe(z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, CORS_ALLOWED)))],
  CORS_ALLOWED,
);

const BASE_PATH_ALLOWED = 'a path prefix like /dev (letters, digits, . _ ~ - between slashes)';
const basePath = z
  .string()
  .transform((path) => path.replace(/\/+$/, ''))
  .pipe(z.string().regex(/^(\/[A-Za-z0-9._~-]+)*$/, BASE_PATH_ALLOWED));

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

const trustProxy = z.union(
  [
    z.literal('false', TRUST_PROXY_ALLOWED).transform(() => false as const),
    integer(1, 10, TRUST_PROXY_ALLOWED),
    commaSeparated.pipe(z.array(z.string().refine(trustedProxyEntry, TRUST_PROXY_ALLOWED)).min(1, TRUST_PROXY_ALLOWED)),
  ],
  TRUST_PROXY_ALLOWED,
);

/** Plain http: would let anyone on the path swap the signing keys; loopback is allowed for tests. */
function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

function servesKeysSafely(raw: string): boolean {
  const url = URL.canParse(raw) ? new URL(raw) : undefined;
  return url?.protocol === 'https:' || (url?.protocol === 'http:' && isLoopbackHost(url.hostname));
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * The environment, one variable a line, with the contract's default. Variables whose defaults or
 * rules depend on others are settled afterwards: in `rules`, `leaseBounded` and `toConfig`.
 */
const variables = z
  .object({
    PORT: integer(0, 65535).default(3000),
    HOST: hostName.optional(),
    METRICS_PORT: integer(0, 65535).optional(),
    STREAM_LIMIT: integer(0, 100).default(3),
    STREAM_POLICY: oneOf(ADMISSION_POLICIES).default('block-new'),
    LEASE_SECONDS: integer(2, 86400).default(90),
    STORE_FAILURE_MODE: oneOf(['closed', 'open']).default('closed'),
    DYNAMODB_TABLE: tableName.default('stream-leases'),
    DYNAMODB_ENDPOINT: storeEndpoint.default({ kind: 'embedded' }),
    DYNAMODB_TIMEOUT_MS: integer(50, 60000).default(1000),
    AWS_REGION: regionName.optional(),
    BASE_PATH: basePath.default(''),
    RATE_LIMIT_PER_MINUTE: integer(0, 1_000_000_000, 'an integer >= 0').default(600),
    LOG_LEVEL: oneOf(LOG_LEVELS).default('info'),
    METRICS_EMF: trueOrFalse.default(false),
    CORS_ORIGINS: corsOrigins.optional(),
    TRUST_PROXY: trustProxy.default(false),
    AUTH_MODE: oneOf(['none', 'jwt']).optional(),
    AUTH_JWT_MAX_TTL_SECONDS: integer(60, 2_592_000).default(86400),
    AUTH_JWT_SECRET: z.string().optional(),
    AUTH_JWKS_URL: z.string().optional(),
    AUTH_JWT_ISSUER: z.string().optional(),
    AUTH_JWT_AUDIENCE: z.string().optional(),
    STREAM_EVENTS: oneOf(['table', 'off']).optional(),
  })
  .superRefine(rules, { when: (parsed) => parsed.issues.length === 0 });

type Variables = z.output<typeof variables>;

/** Rules across variables; each states its own `received`, so a secret is never echoed. */
function rules(v: Variables, ctx: z.RefinementCtx): void {
  const refuse = (variable: string, allowed: string, received: string | undefined) =>
    ctx.addIssue({ code: 'custom', path: [variable], message: allowed, params: { received } });

  if (v.METRICS_PORT !== undefined && v.METRICS_PORT !== 0 && v.METRICS_PORT === v.PORT) {
    refuse('METRICS_PORT', 'a port other than PORT (or unset to serve /metrics on PORT)', String(v.METRICS_PORT));
  }
  if (v.DYNAMODB_ENDPOINT.kind === 'aws') {
    if (v.AWS_REGION === undefined) refuse('AWS_REGION', 'set (e.g. us-east-1) when DYNAMODB_ENDPOINT=aws', undefined);
    // The production table must never be served without authentication by omission.
    if (v.AUTH_MODE === undefined) {
      refuse(
        'AUTH_MODE',
        'set explicitly when DYNAMODB_ENDPOINT=aws: jwt, or none for a service reachable only from trusted callers',
        undefined,
      );
    }
  }
  if (v.AUTH_MODE !== 'jwt') return;
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

/** The two variables whose bounds and defaults follow LEASE_SECONDS, checked once it is known. */
const leaseBounded = (lease: number) =>
  z.object({
    LEASE_MAX_SECONDS: integer(lease, 86400, `an integer from LEASE_SECONDS (${lease}) to 86400`).default(lease),
    HEARTBEAT_INTERVAL_SECONDS: integer(1, lease - 1, `an integer from 1 to LEASE_SECONDS-1 (${lease - 1})`).default(
      Math.max(1, Math.min(30, Math.floor(lease / 3))),
    ),
  });

function toConfig(v: Variables, lease: z.output<ReturnType<typeof leaseBounded>>): Config {
  const embedded = v.DYNAMODB_ENDPOINT.kind === 'embedded';
  return {
    port: v.PORT,
    // A dev server on the embedded store stays on loopback; a container needs every interface.
    host: v.HOST ?? (embedded ? '127.0.0.1' : undefined),
    metricsPort: v.METRICS_PORT,
    streamLimit: v.STREAM_LIMIT,
    streamPolicy: v.STREAM_POLICY,
    leaseSeconds: v.LEASE_SECONDS,
    leaseMaxSeconds: lease.LEASE_MAX_SECONDS,
    storeFailureMode: v.STORE_FAILURE_MODE,
    heartbeatIntervalSeconds: lease.HEARTBEAT_INTERVAL_SECONDS,
    table: v.DYNAMODB_TABLE,
    endpoint: v.DYNAMODB_ENDPOINT,
    timeoutMs: v.DYNAMODB_TIMEOUT_MS,
    region: v.AWS_REGION ?? 'us-east-1',
    basePath: v.BASE_PATH,
    corsOrigins: v.CORS_ORIGINS,
    trustProxy: v.TRUST_PROXY,
    auth:
      v.AUTH_MODE === 'jwt'
        ? {
            mode: 'jwt',
            secret: v.AUTH_JWT_SECRET,
            jwksUrl: v.AUTH_JWKS_URL,
            issuer: v.AUTH_JWT_ISSUER,
            audience: v.AUTH_JWT_AUDIENCE,
            maxTtlSeconds: v.AUTH_JWT_MAX_TTL_SECONDS,
          }
        : { mode: 'none' },
    rateLimitPerMinute: v.RATE_LIMIT_PER_MINUTE,
    logLevel: v.LOG_LEVEL,
    metricsEmf: v.METRICS_EMF,
    // On by default only for the embedded store: a URL endpoint is often a test's or the bench's shared
    // DynamoDB Local, which slows down as stream records accumulate; on AWS it takes a fan-out.
    streamEvents: v.STREAM_EVENTS ?? (embedded ? 'table' : 'off'),
  };
}

/** Parses with `schema`, or throws the first problem as one line (never zod's multi-line summary). */
function parse<T extends z.ZodType>(schema: T, set: Env): z.output<T> {
  const result = schema.safeParse(set);
  if (result.success) return result.data;
  const [issue] = result.error.issues;
  const variable = String(issue?.path[0]);
  const stated = issue?.code === 'custom' ? (issue.params as { received?: string } | undefined) : undefined;
  const received = stated && 'received' in stated ? stated.received : set[variable];
  throw new ConfigError(variable, issue?.message ?? 'valid', received);
}

/**
 * Reads every setting once, applies the contract's defaults and bounds, and
 * throws a ConfigError naming the first bad variable. Nothing else reads process.env.
 */
export function loadConfig(env: Env): Config {
  // Unset and blank are the same (a compose file's `FOO=`), and spaces around a value are dropped.
  const set: Env = Object.fromEntries(
    Object.entries(env).flatMap(([name, value]) => (value?.trim() ? [[name, value.trim()]] : [])),
  );
  const v = parse(variables, set);
  return Object.freeze(toConfig(v, parse(leaseBounded(v.LEASE_SECONDS), set)));
}
