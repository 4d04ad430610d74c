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

function present(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number, allowed?: string): number {
  const raw = present(env, name);
  if (raw === undefined) return fallback;
  const parsed = /^-?\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    throw new ConfigError(name, allowed ?? `an integer from ${min} to ${max}`, raw);
  }
  return parsed;
}

function oneOf<T extends string>(env: Env, name: string, fallback: T, choices: readonly T[]): T {
  const raw = present(env, name);
  if (raw === undefined) return fallback;
  if (!(choices as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `one of ${choices.join(', ')}`, raw);
  }
  return raw as T;
}

const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;
const BASE_PATH = /^(\/[A-Za-z0-9._~-]+)+$/;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function parseEndpoint(env: Env): StoreEndpoint {
  const raw = present(env, 'DYNAMODB_ENDPOINT') ?? 'embedded';
  if (raw === 'embedded') return { kind: 'embedded' };
  if (raw === 'aws') return { kind: 'aws' };
  const url = z.url({ protocol: /^https?$/ }).safeParse(raw);
  if (!url.success) throw new ConfigError('DYNAMODB_ENDPOINT', '"embedded", "aws" or an http(s) URL', raw);
  return { kind: 'url', url: raw };
}

/** The Event API's realtime endpoint; ws: only for a loopback stand-in, as for AUTH_JWKS_URL. */
function parseStreamEventsUrl(env: Env): URL {
  const raw = present(env, 'STREAM_EVENTS_URL');
  const url = raw !== undefined && URL.canParse(raw) ? new URL(raw) : undefined;
  if (!url || !(url.protocol === 'wss:' || (url.protocol === 'ws:' && isLoopbackHost(url.hostname))))
    throw new ConfigError(
      'STREAM_EVENTS_URL',
      'a wss: URL (the Event API realtime endpoint) when STREAM_EVENTS=appsync',
      raw,
    );
  return url;
}

function parseCorsOrigins(env: Env): Config['corsOrigins'] {
  const raw = present(env, 'CORS_ORIGINS');
  if (raw === undefined) return undefined;
  if (raw === '*') return '*';
  const origins = raw
    .split(',')
    .map((origin) => origin.trim())
    .filter(Boolean);
  for (const origin of origins) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new ConfigError('CORS_ORIGINS', '"*" or comma-separated origins like https://player.example.com', raw);
    }
  }
  return origins;
}

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

function parseTrustProxy(env: Env): TrustProxy {
  const raw = present(env, 'TRUST_PROXY');
  if (raw === undefined || raw === 'false') return false;
  if (/^\d+$/.test(raw)) {
    const hops = Number(raw);
    if (hops < 1 || hops > 10) throw new ConfigError('TRUST_PROXY', TRUST_PROXY_ALLOWED, raw);
    return hops;
  }
  const entries = raw
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (entries.length === 0 || !entries.every(trustedProxyEntry))
    throw new ConfigError('TRUST_PROXY', TRUST_PROXY_ALLOWED, raw);
  return entries;
}

/** Plain http: would let anyone on the path swap the signing keys; loopback is allowed for tests. */
function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

function parseJwksUrl(raw: string): string {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  const secure = url?.protocol === 'https:' || (url?.protocol === 'http:' && isLoopbackHost(url.hostname));
  if (!url || !secure) {
    throw new ConfigError(
      'AUTH_JWKS_URL',
      'an https: URL (plain http: only for a loopback host: 127.0.0.0/8, ::1, localhost)',
      raw,
    );
  }
  return raw;
}

function parseAuth(env: Env, endpoint: StoreEndpoint): AuthConfig {
  if (endpoint.kind === 'aws' && present(env, 'AUTH_MODE') === undefined) {
    // The production table must never be served without authentication by omission.
    throw new ConfigError(
      'AUTH_MODE',
      'set explicitly when DYNAMODB_ENDPOINT=aws: jwt, or none for a service reachable only from trusted callers',
      undefined,
    );
  }
  const mode = oneOf(env, 'AUTH_MODE', 'none', ['none', 'jwt'] as const);
  const maxTtlSeconds = integer(env, 'AUTH_JWT_MAX_TTL_SECONDS', 86400, 60, 2_592_000);
  if (mode === 'none') return { mode };
  const secret = present(env, 'AUTH_JWT_SECRET');
  const jwksRaw = present(env, 'AUTH_JWKS_URL');
  if ((secret === undefined) === (jwksRaw === undefined)) {
    throw new ConfigError(
      secret === undefined ? 'AUTH_JWT_SECRET' : 'AUTH_JWKS_URL',
      'set, exactly one of AUTH_JWT_SECRET and AUTH_JWKS_URL, when AUTH_MODE=jwt',
      secret === undefined ? undefined : '<both set>',
    );
  }
  if (secret !== undefined && Buffer.byteLength(secret) < 32) {
    throw new ConfigError('AUTH_JWT_SECRET', 'at least 32 bytes (256 bits) for HS256', '<too short>');
  }
  const jwksUrl = jwksRaw === undefined ? undefined : parseJwksUrl(jwksRaw);
  const audience = present(env, 'AUTH_JWT_AUDIENCE');
  if (jwksUrl !== undefined && audience === undefined) {
    // An identity provider's keys sign tokens for all its applications; only aud says this one is ours.
    throw new ConfigError(
      'AUTH_JWT_AUDIENCE',
      "set when AUTH_JWKS_URL is used (the aud your identity provider puts in this service's tokens)",
      undefined,
    );
  }
  return { mode, secret, jwksUrl, issuer: present(env, 'AUTH_JWT_ISSUER'), audience, maxTtlSeconds };
}

/**
 * Reads every setting once, applies the contract's defaults and bounds, and
 * throws a ConfigError naming the first bad variable. Nothing else reads process.env.
 */
export function loadConfig(env: Env): Config {
  const port = integer(env, 'PORT', 3000, 0, 65535);
  const hostRaw = present(env, 'HOST');
  if (hostRaw !== undefined && !/^[A-Za-z0-9.:-]{1,253}$/.test(hostRaw)) {
    throw new ConfigError('HOST', 'an IP address or host name to listen on (e.g. 127.0.0.1)', hostRaw);
  }
  const metricsPort =
    present(env, 'METRICS_PORT') === undefined ? undefined : integer(env, 'METRICS_PORT', 0, 0, 65535);
  if (metricsPort !== undefined && metricsPort !== 0 && metricsPort === port) {
    throw new ConfigError(
      'METRICS_PORT',
      'a port other than PORT (or unset to serve /metrics on PORT)',
      String(metricsPort),
    );
  }
  const streamLimit = integer(env, 'STREAM_LIMIT', 3, 0, 100);
  const streamPolicy = oneOf(env, 'STREAM_POLICY', 'block-new', ADMISSION_POLICIES);
  const leaseSeconds = integer(env, 'LEASE_SECONDS', 90, 2, 86400);
  const leaseMaxSeconds = integer(
    env,
    'LEASE_MAX_SECONDS',
    leaseSeconds,
    leaseSeconds,
    86400,
    `an integer from LEASE_SECONDS (${leaseSeconds}) to 86400`,
  );
  const storeFailureMode = oneOf(env, 'STORE_FAILURE_MODE', 'closed', ['closed', 'open'] as const);
  const heartbeatDefault = Math.max(1, Math.min(30, Math.floor(leaseSeconds / 3)));
  const heartbeatIntervalSeconds = integer(
    env,
    'HEARTBEAT_INTERVAL_SECONDS',
    heartbeatDefault,
    1,
    leaseSeconds - 1,
    `an integer from 1 to LEASE_SECONDS-1 (${leaseSeconds - 1})`,
  );
  const table = present(env, 'DYNAMODB_TABLE') ?? 'stream-leases';
  if (!TABLE_NAME.test(table)) {
    throw new ConfigError('DYNAMODB_TABLE', '3-255 characters from A-Z a-z 0-9 _ . -', table);
  }
  const endpoint = parseEndpoint(env);
  // A dev server on the embedded store stays on loopback; a container needs every interface.
  const host = hostRaw ?? (endpoint.kind === 'embedded' ? '127.0.0.1' : undefined);
  const timeoutMs = integer(env, 'DYNAMODB_TIMEOUT_MS', 1000, 50, 60000);
  const regionRaw = present(env, 'AWS_REGION');
  if (endpoint.kind === 'aws' && regionRaw === undefined) {
    throw new ConfigError('AWS_REGION', 'set (e.g. us-east-1) when DYNAMODB_ENDPOINT=aws', undefined);
  }
  if (regionRaw !== undefined && !/^[a-z]{2}(-[a-z]+)+-\d+$/.test(regionRaw)) {
    throw new ConfigError('AWS_REGION', 'an AWS region name like us-east-1', regionRaw);
  }
  const basePathRaw = present(env, 'BASE_PATH');
  const basePath = basePathRaw?.replace(/\/+$/, '') ?? '';
  if (basePath !== '' && !BASE_PATH.test(basePath)) {
    throw new ConfigError(
      'BASE_PATH',
      'a path prefix like /dev (letters, digits, . _ ~ - between slashes)',
      basePathRaw,
    );
  }
  const rateLimitPerMinute = integer(env, 'RATE_LIMIT_PER_MINUTE', 600, 0, 1_000_000_000, 'an integer >= 0');
  const logLevel = oneOf(env, 'LOG_LEVEL', 'info', LOG_LEVELS);
  const metricsEmf = oneOf(env, 'METRICS_EMF', 'false', ['true', 'false'] as const) === 'true';
  // On by default only for the embedded store: a URL endpoint is often a test's or the bench's shared
  // DynamoDB Local, which slows down as stream records accumulate; on AWS it takes a fan-out (appsync).
  const streamEvents = oneOf(env, 'STREAM_EVENTS', endpoint.kind === 'embedded' ? 'table' : 'off', [
    'table',
    'appsync',
    'off',
  ] as const);

  return Object.freeze({
    port,
    host,
    metricsPort,
    streamLimit,
    streamPolicy,
    leaseSeconds,
    leaseMaxSeconds,
    storeFailureMode,
    heartbeatIntervalSeconds,
    table,
    endpoint,
    timeoutMs,
    region: regionRaw ?? 'us-east-1',
    basePath,
    corsOrigins: parseCorsOrigins(env),
    trustProxy: parseTrustProxy(env),
    auth: parseAuth(env, endpoint),
    rateLimitPerMinute,
    logLevel,
    metricsEmf,
    streamEvents,
    ...(streamEvents === 'appsync' && { streamEventsUrl: parseStreamEventsUrl(env) }),
  });
}
