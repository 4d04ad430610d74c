import type { Node } from 'constructs';
import { ON_DEMAND, type TableCapacity } from './lease-table';

/**
 * How the service authenticates players. With `DYNAMODB_ENDPOINT=aws` the service refuses to
 * start without an explicit AUTH_MODE, so the stack always sets one.
 */
export type AuthConfig =
  | {
      /** AUTH_MODE=jwt, HS256 with a key the stack generates in Secrets Manager (AUTH_JWT_SECRET). */
      readonly mode: 'jwt-secret';
      /** AUTH_JWT_ISSUER: the `iss` every token must carry; unset: not checked. */
      readonly issuer?: string;
      /** AUTH_JWT_AUDIENCE: the `aud` every token must carry; unset: not checked. */
      readonly audience?: string;
    }
  | {
      /** AUTH_MODE=jwt, RS256/ES256 with the issuer's public keys from AUTH_JWKS_URL. */
      readonly mode: 'jwt-jwks';
      /** An `https:` URL (the service refuses plain `http:` outside loopback). */
      readonly jwksUrl: string;
      /** Required with a JWKS: without it a token minted for another API of the same issuer would pass. */
      readonly audience: string;
      readonly issuer?: string;
    }
  | {
      /**
       * AUTH_MODE=none: any caller may act on any user and set limits. Only for a load balancer that
       * nothing untrusted can reach, so it takes a second, explicit opt-in.
       */
      readonly mode: 'none';
      readonly allowUnauthenticated: true;
    };

/** Everything the stack lets an operator choose; `bin/app.ts` reads it from CDK context. */
export interface StreamLimiterConfig {
  /** DynamoDB table name; the service gets it as DYNAMODB_TABLE. */
  readonly tableName: string;
  /** Fewest tasks autoscaling keeps (2 = one per AZ, so one AZ can fail). */
  readonly minTasks: number;
  readonly maxTasks: number;
  /** Fargate task size: CPU units (256 = 0.25 vCPU) and memory in MiB, a valid Fargate pair. */
  readonly cpu: number;
  readonly memoryMiB: number;
  /** STREAM_LIMIT for the service; unset leaves the service's default (3). */
  readonly streamLimit?: number;
  /** LEASE_SECONDS for the service; unset leaves the service's default (90). */
  readonly leaseSeconds?: number;
  /** DYNAMODB_TIMEOUT_MS; also sizes the deregistration delay and stop timeout (see the stack). */
  readonly dynamoDbTimeoutMs: number;
  readonly logLevel: string;
  /** ACM certificate for the HTTPS listener on 443 (HTTP on 80 then redirects). Required unless allowHttp. */
  readonly certificateArn?: string;
  /**
   * Serve plain HTTP on 80 without a certificate: bearer tokens and player ids cross the internet
   * in clear. Must be asked for explicitly; contradicts certificateArn.
   */
  readonly allowHttp: boolean;
  /** How players authenticate (AUTH_MODE and its settings). */
  readonly auth: AuthConfig;
  /**
   * WAF rate-based rule: requests per client IP address per minute, summed over every task (the
   * service's own RATE_LIMIT_PER_MINUTE holds per task only). Above it the web ACL answers 429.
   */
  readonly wafRateLimitPerMinute: number;
  /** METRICS_PORT: /metrics is served only there, never through the load balancer. */
  readonly metricsPort: number;
  /** SNS topic the alarms notify; unset: alarms only change state in the console. */
  readonly alarmTopicArn?: string;
  /** ALB requests per task per minute the request-count scaling policy aims for (an estimate to calibrate). */
  readonly requestsPerTarget: number;
  /** CPU utilisation (percent) the CPU scaling policy aims for. */
  readonly cpuTargetPercent: number;
  /** CloudWatch Container Insights on the cluster (per-task metrics, billed per metric). */
  readonly containerInsights: boolean;
  /** The lease table's billing: on-demand (default) or provisioned with write autoscaling. */
  readonly capacity: TableCapacity;
  /**
   * Pushed evictions for the fleet (ChangeFanout): the table's stream, one Lambda reader publishing
   * terminations to an AppSync Events API, tasks subscribed with STREAM_EVENTS=appsync. Off: no
   * stream, no Lambda, no API, and tasks answer GET /streams/events 503 (STREAM_EVENTS=off).
   */
  readonly changeFanout: boolean;
}

/** What the Lambda stack (StreamLimiterServerless) lets an operator choose, besides the shared settings. */
export interface ServerlessConfig extends Pick<
  StreamLimiterConfig,
  'streamLimit' | 'leaseSeconds' | 'dynamoDbTimeoutMs' | 'logLevel' | 'auth' | 'alarmTopicArn' | 'capacity'
> {
  readonly stackName: string;
  readonly region: string;
  /** Its own table by default, so both stacks can live in one account and region. */
  readonly tableName: string;
  /** Lambda memory (MiB); CPU is allotted in proportion, so it also sets cold-start and per-request time. */
  readonly memoryMiB: number;
  /** Reserved concurrency: the most containers that ever run at once, the bill's ceiling. */
  readonly reservedConcurrency: number;
  /** The HTTP API stage the original clients call (`/dev/streams/add`). */
  readonly stageName: string;
  /** Stage-wide request rate (per second) and burst API Gateway admits before answering 429. */
  readonly throttleRatePerSecond: number;
  readonly throttleBurst: number;
}

export const DEFAULT_SERVERLESS = Object.freeze({
  stackName: 'StreamLimiterServerless',
  tableName: 'stream-leases-serverless',
  memoryMiB: 512,
  reservedConcurrency: 50,
  stageName: 'dev',
  throttleRatePerSecond: 1000,
  throttleBurst: 2000,
});

/** Which stacks bin/app.ts builds: both by default. */
export type StackSelection = 'all' | 'ecs' | 'serverless';

export const DEFAULT_CONFIG: StreamLimiterConfig = Object.freeze({
  tableName: 'stream-leases',
  minTasks: 2,
  maxTasks: 10,
  cpu: 256,
  memoryMiB: 512,
  dynamoDbTimeoutMs: 1000,
  logLevel: 'info',
  requestsPerTarget: 6000,
  cpuTargetPercent: 60,
  containerInsights: true,
  capacity: ON_DEMAND,
  changeFanout: true,
  allowHttp: false,
  auth: Object.freeze({ mode: 'jwt-secret' }),
  // Twice the service's per-client default (600/min per task): room for several players behind
  // one NAT address (a household, an office; a player heartbeats 2-4 times a minute), while one
  // address can no longer multiply the per-task limit by the number of tasks.
  wafRateLimitPerMinute: 1200,
  // The port OpenTelemetry's Prometheus exporter uses by convention.
  metricsPort: 9464,
});

/** Context keys, as passed with `cdk deploy -c key=value` or set in cdk.json / cdk.context.json. */
export const CONTEXT_KEYS = [
  'stackName',
  'region',
  'tableName',
  'minTasks',
  'maxTasks',
  'cpu',
  'memoryMiB',
  'streamLimit',
  'leaseSeconds',
  'dynamoDbTimeoutMs',
  'logLevel',
  'certificateArn',
  'alarmTopicArn',
  'requestsPerTarget',
  'cpuTargetPercent',
  'containerInsights',
  'changeFanout',
  'allowHttp',
  'authMode',
  'authJwksUrl',
  'authJwtAudience',
  'authJwtIssuer',
  'allowUnauthenticated',
  'wafRateLimitPerMinute',
  'metricsPort',
  'capacity',
  'minWriteUnits',
  'maxWriteUnits',
  'writeTargetPercent',
  'minReadUnits',
  'stacks',
  'serverlessStackName',
  'serverlessTableName',
  'lambdaMemoryMiB',
  'reservedConcurrency',
  'apiStageName',
  'apiThrottleRatePerSecond',
  'apiThrottleBurst',
] as const;

/** The service's listen port (the contract's PORT default, set explicitly in the task). */
export const SERVICE_PORT = 3000;

/**
 * Why a listener choice is refused, or undefined when it is fine: exactly one of a certificate
 * and the explicit plain-HTTP opt-in. Shared by readConfig and the stack, so a stack built
 * from code fails the same way as one built from context.
 */
export function listenerProblem(certificateArn: string | undefined, allowHttp: boolean): string | undefined {
  if (certificateArn && allowHttp) {
    return 'Context "certificateArn" and "allowHttp=true" contradict each other: with a certificate the ALB serves HTTPS and redirects HTTP; drop one of them';
  }
  if (!certificateArn && !allowHttp) {
    return (
      'No listener chosen: pass -c certificateArn=arn:aws:acm:<region>:<account>:certificate/<id> for HTTPS on 443 ' +
      '(HTTP on 80 redirects to it), or -c allowHttp=true to serve plain HTTP on 80 without TLS ' +
      '(tokens and user ids cross the internet in clear: a trial only; see infra/README.md)'
    );
  }
  return undefined;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

// Fargate accepts only these memory sizes per CPU size; checking here fails at synth
// instead of half-way through a CloudFormation deployment.
const FARGATE_MEMORY: Record<number, (mib: number) => boolean> = {
  256: (m) => [512, 1024, 2048].includes(m),
  512: (m) => m >= 1024 && m <= 4096 && m % 1024 === 0,
  1024: (m) => m >= 2048 && m <= 8192 && m % 1024 === 0,
  2048: (m) => m >= 4096 && m <= 16384 && m % 1024 === 0,
  4096: (m) => m >= 8192 && m <= 30720 && m % 1024 === 0,
};

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Reads the stack's settings from CDK context, applies defaults and checks them.
 * Values from `-c key=value` arrive as strings and from cdk.json as JSON values; both are accepted.
 * @throws ConfigError naming the key and what it allows.
 */
export function readConfig(
  node: Pick<Node, 'tryGetContext'>,
  env: NodeJS.ProcessEnv = process.env,
  options: { requireListener?: boolean } = {},
): StreamLimiterConfig & { stackName: string; region: string } {
  const raw = contextReader(node);

  const minTasks = int(raw('minTasks'), 'minTasks', 1, 100) ?? DEFAULT_CONFIG.minTasks;
  const maxTasks = int(raw('maxTasks'), 'maxTasks', 1, 1000) ?? Math.max(DEFAULT_CONFIG.maxTasks, minTasks);
  if (maxTasks < minTasks)
    throw new ConfigError(`Context "maxTasks" (${maxTasks}) must be at least minTasks (${minTasks})`);

  const cpu = int(raw('cpu'), 'cpu', 256, 4096) ?? DEFAULT_CONFIG.cpu;
  const memoryMiB = int(raw('memoryMiB'), 'memoryMiB', 512, 30720) ?? DEFAULT_CONFIG.memoryMiB;
  const memoryFits = FARGATE_MEMORY[cpu];
  if (!memoryFits) throw new ConfigError(`Context "cpu" must be one of 256, 512, 1024, 2048, 4096, got "${cpu}"`);
  if (!memoryFits(memoryMiB)) {
    throw new ConfigError(`Context "memoryMiB" ${memoryMiB} is not a Fargate memory size for cpu ${cpu}`);
  }

  const logLevel = str(raw('logLevel'), 'logLevel', (v) => LOG_LEVELS.includes(v), LOG_LEVELS.join(', '));
  const tableName = str(
    raw('tableName'),
    'tableName',
    (v) => /^[A-Za-z0-9_.-]{3,255}$/.test(v),
    '3-255 of [A-Za-z0-9_.-]',
  );
  const stackName = str(
    raw('stackName'),
    'stackName',
    (v) => /^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(v),
    'a CloudFormation stack name',
  );

  // The stack is account-agnostic but names its region: ALB access-log delivery is granted to
  // a per-region principal that CDK must know at synth. The CLI sets CDK_DEFAULT_REGION from
  // the profile or AWS_REGION, so `cdk deploy` targets the region the credentials point at.
  const certificateArn = str(
    raw('certificateArn'),
    'certificateArn',
    (v) => /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/.test(v),
    'an ACM certificate ARN',
  );
  const allowHttp = bool(raw('allowHttp'), 'allowHttp') ?? DEFAULT_CONFIG.allowHttp;
  // The Lambda stack has no load balancer: reading the shared settings for it needs no listener.
  const listener = options.requireListener === false ? undefined : listenerProblem(certificateArn, allowHttp);
  if (listener) throw new ConfigError(listener);

  const region =
    str(raw('region'), 'region', (v) => /^[a-z]{2}(-[a-z]+)+-\d$/.test(v), 'an AWS region such as eu-west-1') ??
    str(
      env.CDK_DEFAULT_REGION || undefined,
      'CDK_DEFAULT_REGION',
      (v) => /^[a-z]{2}(-[a-z]+)+-\d$/.test(v),
      'an AWS region',
    ) ??
    'us-east-1';

  // The certificate must live in the stack's region: CloudFormation would otherwise fail only
  // when it creates the listener, minutes into the deployment.
  const certificateRegion = certificateArn?.split(':')[3];
  if (certificateRegion !== undefined && certificateRegion !== region) {
    throw new ConfigError(
      `Context "certificateArn" is in ${certificateRegion} but the stack is for ${region}: an ALB needs a certificate from its own region`,
    );
  }

  return {
    stackName: stackName ?? 'StreamLimiter',
    region,
    tableName: tableName ?? DEFAULT_CONFIG.tableName,
    minTasks,
    maxTasks,
    cpu,
    memoryMiB,
    // Bounds are the service's own (see the contract's Configuration section), so a bad
    // value fails here rather than as a crash-looping task.
    streamLimit: int(raw('streamLimit'), 'streamLimit', 0, 100),
    leaseSeconds: int(raw('leaseSeconds'), 'leaseSeconds', 2, 86400),
    dynamoDbTimeoutMs:
      int(raw('dynamoDbTimeoutMs'), 'dynamoDbTimeoutMs', 50, 60000) ?? DEFAULT_CONFIG.dynamoDbTimeoutMs,
    logLevel: logLevel ?? DEFAULT_CONFIG.logLevel,
    certificateArn,
    allowHttp,
    auth: readAuth(raw),
    alarmTopicArn: str(
      raw('alarmTopicArn'),
      'alarmTopicArn',
      (v) => /^arn:aws[a-z-]*:sns:/.test(v),
      'an SNS topic ARN',
    ),
    requestsPerTarget:
      int(raw('requestsPerTarget'), 'requestsPerTarget', 1, 1_000_000) ?? DEFAULT_CONFIG.requestsPerTarget,
    cpuTargetPercent: int(raw('cpuTargetPercent'), 'cpuTargetPercent', 10, 90) ?? DEFAULT_CONFIG.cpuTargetPercent,
    containerInsights: bool(raw('containerInsights'), 'containerInsights') ?? DEFAULT_CONFIG.containerInsights,
    // WAF's own bounds for a rate-based rule's limit.
    wafRateLimitPerMinute:
      int(raw('wafRateLimitPerMinute'), 'wafRateLimitPerMinute', 10, 2_000_000_000) ??
      DEFAULT_CONFIG.wafRateLimitPerMinute,
    metricsPort: metricsPort(raw('metricsPort')),
    capacity: readCapacity(raw),
    changeFanout: bool(raw('changeFanout'), 'changeFanout') ?? DEFAULT_CONFIG.changeFanout,
  };
}

type ContextKey = (typeof CONTEXT_KEYS)[number];

function contextReader(node: Pick<Node, 'tryGetContext'>): (key: ContextKey) => unknown {
  return (key) => {
    const value: unknown = node.tryGetContext(key);
    return value === '' || value === null ? undefined : value;
  };
}

/** Context "stacks": which of the two stacks to build (a Lambda-only deployment needs no listener choice). */
export function readStackSelection(node: Pick<Node, 'tryGetContext'>): StackSelection {
  const value = contextReader(node)('stacks');
  return (
    (str(value, 'stacks', (v) => ['all', 'ecs', 'serverless'].includes(v), 'all, ecs or serverless') as
      StackSelection | undefined) ?? 'all'
  );
}

/**
 * The Lambda stack's settings: the shared ones (table capacity, limits, auth, alarms) read as
 * for the ECS stack, plus its own. @throws ConfigError naming the key.
 */
export function readServerlessConfig(
  node: Pick<Node, 'tryGetContext'>,
  env: NodeJS.ProcessEnv = process.env,
): ServerlessConfig {
  const raw = contextReader(node);
  const shared = readConfig(node, env, { requireListener: false });
  const stackName = str(
    raw('serverlessStackName'),
    'serverlessStackName',
    (v) => /^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(v),
    'a CloudFormation stack name',
  );
  const tableName = str(
    raw('serverlessTableName'),
    'serverlessTableName',
    (v) => /^[A-Za-z0-9_.-]{3,255}$/.test(v),
    '3-255 of [A-Za-z0-9_.-]',
  );
  const stageName = str(
    raw('apiStageName'),
    'apiStageName',
    (v) => /^[A-Za-z0-9_-]{1,128}$/.test(v),
    'a stage name ([A-Za-z0-9_-])',
  );
  const throttleRatePerSecond =
    int(raw('apiThrottleRatePerSecond'), 'apiThrottleRatePerSecond', 1, 1_000_000) ??
    DEFAULT_SERVERLESS.throttleRatePerSecond;
  const throttleBurst =
    int(raw('apiThrottleBurst'), 'apiThrottleBurst', 1, 1_000_000) ?? DEFAULT_SERVERLESS.throttleBurst;
  return {
    stackName: stackName ?? DEFAULT_SERVERLESS.stackName,
    region: shared.region,
    tableName: tableName ?? DEFAULT_SERVERLESS.tableName,
    capacity: shared.capacity,
    streamLimit: shared.streamLimit,
    leaseSeconds: shared.leaseSeconds,
    dynamoDbTimeoutMs: shared.dynamoDbTimeoutMs,
    logLevel: shared.logLevel,
    auth: shared.auth,
    alarmTopicArn: shared.alarmTopicArn,
    // Lambda's own bounds for memory; reserved concurrency at least 1 (0 would switch the API off).
    memoryMiB: int(raw('lambdaMemoryMiB'), 'lambdaMemoryMiB', 128, 10240) ?? DEFAULT_SERVERLESS.memoryMiB,
    reservedConcurrency:
      int(raw('reservedConcurrency'), 'reservedConcurrency', 1, 100_000) ?? DEFAULT_SERVERLESS.reservedConcurrency,
    stageName: stageName ?? DEFAULT_SERVERLESS.stageName,
    throttleRatePerSecond,
    throttleBurst,
  };
}

function readCapacity(raw: (key: ContextKey) => unknown): TableCapacity {
  const mode =
    str(raw('capacity'), 'capacity', (v) => v === 'on-demand' || v === 'provisioned', 'on-demand or provisioned') ??
    'on-demand';
  const provisionedOnly = ['minWriteUnits', 'maxWriteUnits', 'writeTargetPercent', 'minReadUnits'] as const;
  if (mode === 'on-demand') {
    const stray = provisionedOnly.find((key) => raw(key) !== undefined);
    if (stray) throw new ConfigError(`Context "${stray}" only applies with capacity=provisioned`);
    return ON_DEMAND;
  }
  const minWriteUnits = int(raw('minWriteUnits'), 'minWriteUnits', 1, 40_000) ?? 5;
  const maxWriteUnits = int(raw('maxWriteUnits'), 'maxWriteUnits', 1, 40_000) ?? Math.max(100, minWriteUnits);
  if (maxWriteUnits < minWriteUnits) {
    throw new ConfigError(
      `Context "maxWriteUnits" (${maxWriteUnits}) must be at least minWriteUnits (${minWriteUnits})`,
    );
  }
  return {
    mode: 'provisioned',
    minWriteUnits,
    maxWriteUnits,
    // Application Auto Scaling's bounds for DynamoDB target tracking.
    writeTargetPercent: int(raw('writeTargetPercent'), 'writeTargetPercent', 20, 90) ?? 70,
    minReadUnits: int(raw('minReadUnits'), 'minReadUnits', 1, 40_000) ?? 5,
  };
}

function metricsPort(value: unknown): number {
  const port = int(value, 'metricsPort', 1024, 65535) ?? DEFAULT_CONFIG.metricsPort;
  if (port === SERVICE_PORT) {
    throw new ConfigError(
      `Context "metricsPort" must differ from the service port ${SERVICE_PORT}: /metrics would then be reachable through the load balancer`,
    );
  }
  return port;
}

function readAuth(raw: (key: ContextKey) => unknown): AuthConfig {
  const mode = str(raw('authMode'), 'authMode', (v) => v === 'jwt' || v === 'none', 'jwt or none') ?? 'jwt';
  const jwksUrl = str(
    raw('authJwksUrl'),
    'authJwksUrl',
    (v) => URL.canParse(v) && new URL(v).protocol === 'https:',
    'an https: URL (the JWKS of the token issuer)',
  );
  const audience = str(raw('authJwtAudience'), 'authJwtAudience', (v) => v.trim().length > 0, 'a non-empty string');
  const issuer = str(raw('authJwtIssuer'), 'authJwtIssuer', (v) => v.trim().length > 0, 'a non-empty string');
  const allowUnauthenticated = bool(raw('allowUnauthenticated'), 'allowUnauthenticated') ?? false;

  if (mode === 'none') {
    if (!allowUnauthenticated) {
      throw new ConfigError(
        'Context "authMode=none" lets anyone who reaches the load balancer act on any user and set limits: ' +
          'add -c allowUnauthenticated=true to confirm that only trusted callers can reach it',
      );
    }
    if (jwksUrl || audience || issuer) {
      throw new ConfigError(
        'Context "authMode=none" takes no authJwksUrl, authJwtAudience or authJwtIssuer (they only apply to jwt)',
      );
    }
    return { mode: 'none', allowUnauthenticated: true };
  }
  if (allowUnauthenticated) {
    throw new ConfigError('Context "allowUnauthenticated=true" only goes with authMode=none');
  }
  if (jwksUrl) {
    if (!audience) {
      throw new ConfigError(
        'Context "authJwtAudience" is required with authJwksUrl: without it a token the same issuer minted for another API would be accepted',
      );
    }
    return { mode: 'jwt-jwks', jwksUrl, audience, ...(issuer ? { issuer } : {}) };
  }
  return { mode: 'jwt-secret', ...(audience ? { audience } : {}), ...(issuer ? { issuer } : {}) };
}

function int(value: unknown, key: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n =
    typeof value === 'number' ? value : typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`Context "${key}" must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

function str(value: unknown, key: string, ok: (v: string) => boolean, allowed: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !ok(value)) {
    const source = /^[A-Z_]+$/.test(key) ? `Environment variable ${key}` : `Context "${key}"`;
    throw new ConfigError(`${source} must be ${allowed}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function bool(value: unknown, key: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new ConfigError(`Context "${key}" must be true or false, got ${JSON.stringify(value)}`);
}
