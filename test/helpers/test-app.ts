import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { createApp, type AppDependencies } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import { leasePolicy } from '../../src/leases/policy';
import { createReadiness } from '../../src/readiness';
import { LeaseStore } from '../../src/store/lease-store';

export function testEndpoint(): string {
  const endpoint = process.env.TEST_DYNAMODB_ENDPOINT;
  if (!endpoint)
    throw new Error('TEST_DYNAMODB_ENDPOINT is not set: run through jest (global setup starts DynamoDB Local)');
  return endpoint;
}

/** A clock tests move by hand; starts at the real time so expiresAt stays plausible. */
export class TestClock {
  private current = Date.now();
  readonly now = (): number => this.current;
  advance(ms: number): void {
    this.current += ms;
  }
}

export function uniqueId(prefix = 'u'): string {
  return `${prefix}-${randomUUID().slice(0, 12)}`;
}

export interface TestApp {
  readonly app: ReturnType<typeof createApp>['app'];
  readonly routes: ReturnType<typeof createApp>['routes'];
  readonly store: LeaseStore;
  readonly clock: TestClock;
  readonly config: Config;
  readonly table: string;
  close(): void;
}

/**
 * The real app on the real DynamoDB Local, on a table of its own, with a
 * hand-moved clock. `env` takes the contract's variables (STREAM_LIMIT, ...).
 */
export async function createTestApp(
  env: Record<string, string> = {},
  options: { endpoint?: string; table?: string; deps?: Partial<AppDependencies> } = {},
): Promise<TestApp> {
  const table = options.table ?? `t-${randomUUID()}`;
  // A generous store bound by default: DynamoDB Local on a busy 2-core CI box can take seconds under
  // contention, and these tests are about decisions; fault tests set DYNAMODB_TIMEOUT_MS themselves.
  const config = loadConfig({
    DYNAMODB_TABLE: table,
    DYNAMODB_ENDPOINT: options.endpoint ?? testEndpoint(),
    DYNAMODB_TIMEOUT_MS: '10000',
    // Tests send hundreds of requests from one address; the rate-limit tests turn it back on.
    RATE_LIMIT_PER_MINUTE: '0',
    ...env,
  });
  const store = new LeaseStore({
    endpoint: { kind: 'url', url: options.endpoint ?? testEndpoint() },
    region: config.region,
    table,
    timeoutMs: config.timeoutMs,
    policy: leasePolicy(config),
    // Metrics passed in deps also see the store's calls, as main.ts wires them.
    onStoreCall: options.deps?.metrics?.onStoreCall,
    onLeasesPruned: options.deps?.metrics?.onLeasesPruned,
  });
  if (!options.table) await store.ensureTable();
  const clock = new TestClock();
  const { app, routes } = createApp({
    config,
    store,
    logger: pino({ level: 'silent' }),
    readiness: createReadiness(() => store.ping()),
    clock: clock.now,
    ...options.deps,
  });
  return { app, routes, store, clock, config, table, close: () => store.destroy() };
}
