import type { Node } from 'constructs';

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
  /** ACM certificate for an HTTPS listener (HTTP on 80 then redirects); unset: plain HTTP on 80. */
  readonly certificateArn?: string;
  /** SNS topic the alarms notify; unset: alarms only change state in the console. */
  readonly alarmTopicArn?: string;
  /** ALB requests per task per minute the request-count scaling policy aims for (an estimate to calibrate). */
  readonly requestsPerTarget: number;
  /** CPU utilisation (percent) the CPU scaling policy aims for. */
  readonly cpuTargetPercent: number;
  /** CloudWatch Container Insights on the cluster (per-task metrics, billed per metric). */
  readonly containerInsights: boolean;
}

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
] as const;

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
): StreamLimiterConfig & { stackName: string; region: string } {
  const raw = (key: (typeof CONTEXT_KEYS)[number]): unknown => {
    const value: unknown = node.tryGetContext(key);
    return value === '' || value === null ? undefined : value;
  };

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
  const region =
    str(raw('region'), 'region', (v) => /^[a-z]{2}(-[a-z]+)+-\d$/.test(v), 'an AWS region such as eu-west-1') ??
    str(
      env.CDK_DEFAULT_REGION || undefined,
      'CDK_DEFAULT_REGION',
      (v) => /^[a-z]{2}(-[a-z]+)+-\d$/.test(v),
      'an AWS region',
    ) ??
    'us-east-1';

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
    certificateArn: str(
      raw('certificateArn'),
      'certificateArn',
      (v) => /^arn:aws[a-z-]*:acm:/.test(v),
      'an ACM certificate ARN',
    ),
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
  };
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
