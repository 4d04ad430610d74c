import serverlessExpress from '@codegenie/serverless-express';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import pino from 'pino';
import { createApp } from './app';
import { ConfigError, loadConfig, type Config } from './config';
import { createMetrics } from './metrics';
import { createEmfMetrics, teeStoreCalls, type EmfMetrics } from './observability/emf';
import { createReadiness } from './readiness';
import { leaseStoreFor } from './store/lease-store';

export type LambdaHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

type Proxy = ReturnType<typeof serverlessExpress<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>>;

export interface LambdaOptions {
  /** Where EMF lines go (stdout by default, which Lambda ships to CloudWatch Logs). */
  readonly emfWrite?: (line: string) => void;
  /** Epoch milliseconds, for tests that move time. */
  readonly clock?: () => number;
}

/** What one container builds once and reuses for every invoke. */
interface Container {
  readonly config: Config;
  readonly emf: EmfMetrics | undefined;
  /** One app per path prefix (see proxyFor), built on first use. */
  readonly proxies: Map<string, Proxy>;
  proxyFor(prefix: string): Proxy;
}

/** API Gateway stage names: what the console and CloudFormation accept. */
const STAGE_NAME = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * The path prefix the stage puts in front of the app's routes. Through the execute-api URL an
 * HTTP API's named stage is the first path segment (`/dev/streams/add`); through a custom
 * domain's API mapping it is not, although `requestContext.stage` still names it. So the stage
 * is a prefix only when the path carries it, and `$default` never is one.
 */
export function stagePrefix(event: Pick<APIGatewayProxyEventV2, 'rawPath' | 'requestContext'>): string {
  const stage = event.requestContext?.stage;
  if (!stage || stage === '$default' || !STAGE_NAME.test(stage)) return '';
  const prefix = `/${stage}`;
  return event.rawPath === prefix || event.rawPath?.startsWith(`${prefix}/`) ? prefix : '';
}

function buildContainer(env: Record<string, string | undefined>, options: LambdaOptions): Container {
  const config = loadConfig(env);
  if (config.endpoint.kind === 'embedded') {
    // The embedded DynamoDB Local would start in every container and lose its leases whenever
    // Lambda recycles one: each container would enforce a limit of its own.
    throw new ConfigError(
      'DYNAMODB_ENDPOINT',
      '"aws" or an http(s) URL in Lambda (the embedded store lives and dies with each container)',
      env.DYNAMODB_ENDPOINT?.trim() || 'embedded',
    );
  }
  // Synchronous writes: Lambda freezes the container as soon as the answer is returned, and a
  // buffered line would wait for the next invoke, or be lost with the container.
  const logger = pino(
    { level: config.logLevel, base: { service: 'stream-limiter' } },
    pino.destination({ dest: 1, sync: true }),
  );
  const metrics = createMetrics();
  const emf = config.metricsEmf ? createEmfMetrics({ table: config.table, write: options.emfWrite }) : undefined;
  const store = leaseStoreFor(config, config.endpoint, {
    onStoreCall: teeStoreCalls(metrics.onStoreCall, emf),
    onLeasesPruned: metrics.onLeasesPruned,
  });
  const readiness = createReadiness(() => store.ping(), {
    onFailure: (error) => logger.warn({ err: error }, 'readiness: the store did not answer'),
  });
  const proxies = new Map<string, Proxy>();
  return {
    config,
    emf,
    proxies,
    proxyFor(prefix) {
      let proxy = proxies.get(prefix);
      if (!proxy) {
        const { app } = createApp({
          // Config is frozen; a copy with the stage in front of any BASE_PATH.
          config: Object.freeze({ ...config, basePath: prefix + config.basePath }),
          store,
          logger,
          readiness,
          metrics,
          // A per-container Prometheus registry is one of hundreds and nothing scrapes it; EMF replaces it.
          prometheusEndpoint: false,
          ...(options.clock && { clock: options.clock }),
          ...(emf && { events: emf.events, observeRequests: emf.observeRequests }),
        });
        proxy = serverlessExpress<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>({ app });
        proxies.set(prefix, proxy);
      }
      return proxy;
    },
  };
}

/**
 * A Lambda handler for API Gateway HTTP API (payload 2.0) events serving the same Express app as
 * the ECS service. The config, store, metrics and app are built on the first invoke and reused by
 * every later one in the container; a bad environment fails every invoke with its one line.
 */
export function createLambdaHandler(
  env: Record<string, string | undefined> = process.env,
  options: LambdaOptions = {},
): LambdaHandler {
  let container: Container | undefined;
  let initError: Error | undefined;
  return async (event, context) => {
    if (initError) throw initError;
    try {
      container ??= buildContainer(env, options);
    } catch (error) {
      initError = error as Error;
      if (error instanceof ConfigError) process.stderr.write(`${error.message}\n`);
      throw error;
    }
    const proxy = container.proxyFor(stagePrefix(event));
    try {
      return (await proxy(event, context, () => undefined)) as APIGatewayProxyStructuredResultV2;
    } finally {
      // Once per invoke, after the answer is ready: the container may be frozen or recycled next.
      container.emf?.flush();
    }
  };
}

export const handler: LambdaHandler = createLambdaHandler();
