import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createApp, createMetricsApp } from './app';
import { createLogger } from './logger';
import { ConfigError, loadConfig, type Config } from './config';
import { createHttpServer, SERVER_LIMITS } from './http/server';
import { createMetrics } from './metrics';
import { createEmfMetrics, teeStoreCalls } from './observability/emf';
import { createTerminationFeed } from './events/feed-for-config';
import { createReadiness } from './readiness';
import { leaseStoreFor, type LeaseStore } from './store/lease-store';
import { JavaMissingError, startLocalDynamo, type LocalDynamo } from './store/local-dynamo';

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

/** Keeps creating the table until the store answers: a self-run endpoint may come up after us. */
async function ensureTableInBackground(store: LeaseStore, logger: Logger, stream: boolean): Promise<void> {
  for (let delayMs = 500; ; delayMs = Math.min(delayMs * 2, 10_000)) {
    try {
      await store.ensureTable({ stream });
      logger.info('lease table ready');
      return;
    } catch (error) {
      logger.warn({ err: error }, `lease table not ready; retrying in ${delayMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  const logger = createLogger(config.logLevel);

  let localDynamo: LocalDynamo | undefined;
  let storeUrl: string | undefined = config.endpoint.kind === 'url' ? config.endpoint.url : undefined;
  if (config.endpoint.kind === 'embedded') {
    try {
      localDynamo = await startLocalDynamo();
    } catch (error) {
      if (error instanceof JavaMissingError) fail(error.message);
      fail(`could not start the embedded DynamoDB Local: ${(error as Error).message}`);
    }
    storeUrl = localDynamo.endpoint;
    logger.warn(
      { endpoint: storeUrl },
      'DYNAMODB_ENDPOINT=embedded: leases live in an in-memory DynamoDB Local and are lost on exit; set DYNAMODB_ENDPOINT for real use',
    );
    localDynamo.onUnexpectedExit((detail) => logger.error(detail));
  }

  const metrics = createMetrics({ defaultMetrics: true });
  const emf = config.metricsEmf ? createEmfMetrics({ table: config.table }) : undefined;
  const stopEmf = emf?.flushEveryMinute();
  const store = leaseStoreFor(config, storeUrl === undefined ? { kind: 'aws' } : { kind: 'url', url: storeUrl }, {
    onStoreCall: teeStoreCalls(metrics.onStoreCall, emf),
    onLeasesPruned: metrics.onLeasesPruned,
  });
  const stream = config.streamEvents === 'table';
  if (localDynamo) {
    await store.ensureTable({ stream });
  } else if (config.endpoint.kind === 'url') {
    void ensureTableInBackground(store, logger, stream);
  }
  const feed = createTerminationFeed(config, storeUrl, store, logger);
  void feed?.start();

  const readiness = createReadiness(() => store.ping(), {
    onFailure: (error) => logger.warn({ err: error }, 'readiness: the store did not answer'),
  });
  const { app } = createApp({
    config,
    store,
    logger,
    readiness,
    metrics,
    ...(emf && { events: emf.events, observeRequests: emf.observeRequests }),
    ...(feed && { streamEvents: { feed } }),
  });
  let draining = false;

  const onServerError = (error: Error) => {
    logger.fatal({ err: error }, 'server error');
    void (localDynamo?.stop() ?? Promise.resolve()).finally(() => process.exit(1));
  };
  const onRefused = (refused: number) =>
    logger.warn(
      { refused, maxConnections: SERVER_LIMITS.maxConnections },
      'connection bound reached: refusing new connections',
    );

  // METRICS_PORT: a second listener on the same host, started first so its port is logged before
  // the service reports itself listening.
  let metricsServer: Server | undefined;
  if (config.metricsPort !== undefined) {
    const listener = createHttpServer(createMetricsApp({ metrics, logger }), {}, onRefused);
    listener.on('error', onServerError);
    await new Promise<void>((resolve) => listener.listen({ port: config.metricsPort, host: config.host }, resolve));
    const { port } = listener.address() as AddressInfo;
    logger.info({ metricsPort: port }, `/metrics served on its own port ${port}`);
    metricsServer = listener;
  }

  const server = createHttpServer(app, {}, onRefused);
  server.on('error', onServerError);
  // A deep accept backlog: when a thousand players press play at once, Node's default (511) drops
  // SYNs and clients wait out TCP's 1-3-7 s retransmits before the service even sees them.
  server.listen({ port: config.port, host: config.host, backlog: 4096 }, () => {
    const { port, address } = server.address() as AddressInfo;
    logger.info(
      {
        port,
        host: address,
        table: config.table,
        endpoint: config.endpoint.kind,
        streamLimit: config.streamLimit,
        leaseSeconds: config.leaseSeconds,
      },
      `listening on port ${port}`,
    );
  });

  const closeServer = (listener: Server) =>
    new Promise<void>((resolve) => {
      // In-flight requests are bounded by the store timeout; give them that plus a second.
      const force = setTimeout(() => listener.closeAllConnections(), config.timeoutMs + 1000);
      force.unref();
      // A connection answered after the signal may turn idle without being closed; sweep until none remain.
      const sweep = setInterval(() => listener.closeIdleConnections(), 100);
      sweep.unref();
      listener.close(() => {
        clearTimeout(force);
        clearInterval(sweep);
        resolve();
      });
      listener.closeIdleConnections();
    });

  const shutdown = (signal: string) => {
    if (draining) return;
    draining = true;
    readiness.markDraining();
    logger.info({ signal }, 'draining: no new connections, finishing in-flight requests');
    // Open event streams end now (their players reconnect to another instance), not at the force timer.
    const feedStopped = feed?.stop() ?? Promise.resolve();
    const closed = [closeServer(server), ...(metricsServer ? [closeServer(metricsServer)] : []), feedStopped];
    void Promise.all(closed).then(() => {
      stopEmf?.();
      store.destroy();
      void (localDynamo?.stop() ?? Promise.resolve()).finally(() => {
        logger.info('stopped');
        process.exit(0);
      });
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`fatal: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
