import { z } from 'zod';
import { ADMISSION_POLICIES, type AdmissionPolicy } from './leases/model';
import { authConfig, authVariables, jwtRules, type AuthConfig, type Refuse } from './config/auth';
import {
  basePath,
  corsOrigins,
  hostName,
  integer,
  isLoopbackHost,
  oneOf,
  regionName,
  storeEndpoint,
  tableName,
  trueOrFalse,
  trustProxy,
  type StoreEndpoint,
  type TrustProxy,
} from './config/values';

export type { AuthConfig, StoreEndpoint, TrustProxy };

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
  readonly streamEvents: 'table' | 'appsync' | 'off';
  /** STREAM_EVENTS_URL: the AppSync Event API's realtime endpoint (wss://…/event/realtime), set with `appsync`. */
  readonly streamEventsUrl?: URL;
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
    ...authVariables.shape,
    STREAM_EVENTS: oneOf(['table', 'appsync', 'off']).optional(),
    STREAM_EVENTS_URL: z.string().optional(),
  })
  // Only over a fully parsed environment: zod would otherwise run the rules over values that failed.
  .superRefine(rules, { when: (parsed) => parsed.issues.length === 0 });

type Variables = z.output<typeof variables>;

/** Rules across variables, reported in this order. */
function rules(v: Variables, ctx: z.RefinementCtx): void {
  const refuse: Refuse = (variable, allowed, received) =>
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
  if (v.AUTH_MODE === 'jwt') jwtRules(v, refuse);
  if (v.STREAM_EVENTS === 'appsync' && streamEventsUrl(v.STREAM_EVENTS_URL) === undefined) {
    refuse(
      'STREAM_EVENTS_URL',
      'a wss: URL (the Event API realtime endpoint) when STREAM_EVENTS=appsync',
      v.STREAM_EVENTS_URL,
    );
  }
}

/** The Event API's realtime endpoint; ws: only for a loopback stand-in, as http: for AUTH_JWKS_URL. */
function streamEventsUrl(raw: string | undefined): URL | undefined {
  const url = raw !== undefined && URL.canParse(raw) ? new URL(raw) : undefined;
  return url?.protocol === 'wss:' || (url?.protocol === 'ws:' && isLoopbackHost(url.hostname)) ? url : undefined;
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
    auth: authConfig(v),
    rateLimitPerMinute: v.RATE_LIMIT_PER_MINUTE,
    logLevel: v.LOG_LEVEL,
    metricsEmf: v.METRICS_EMF,
    // On by default only for the embedded store: a URL endpoint is often a test's or the bench's shared
    // DynamoDB Local, which slows down as stream records accumulate; on AWS it takes a fan-out (appsync).
    streamEvents: v.STREAM_EVENTS ?? (embedded ? 'table' : 'off'),
    ...(v.STREAM_EVENTS === 'appsync' && { streamEventsUrl: streamEventsUrl(v.STREAM_EVENTS_URL) }),
  };
}

/** Parses with `schema`, or throws its first issue as the one line (zod's own message spans several). */
function parse<T extends z.ZodType>(schema: T, set: Env): z.output<T> {
  const result = schema.safeParse(set);
  if (result.success) return result.data;
  const issue = result.error.issues[0] as z.core.$ZodIssue;
  const variable = String(issue.path[0]);
  const stated = issue.code === 'custom' ? (issue.params as { received?: string } | undefined) : undefined;
  throw new ConfigError(variable, issue.message, stated && 'received' in stated ? stated.received : set[variable]);
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
