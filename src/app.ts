import express, { type Request, type RequestHandler } from 'express';
import helmet from 'helmet';
import type { Logger } from 'pino';
import type { Config } from './config';
import { Forbidden, RouteNotFound } from './errors';
import { createTokenVerifier, type TokenVerifier } from './auth/token-verifier';
import { identifyCaller, requireAuthentication } from './http/middleware/authenticate';
import { cors } from './http/middleware/cors';
import { rateLimitPerClient } from './http/middleware/rate-limit';
import { requestId } from './http/middleware/request-id';
import { requestLog } from './http/middleware/request-log';
import { problemHandler } from './http/problem';
import { resource, type RouteEntry } from './http/resource';
import { openApiOptions } from './http/openapi/options';
import type { ApiContext, LeaseEvents, LeaseStorePort } from './http/routes/context';
import { demoRoutes } from './http/routes/demo';
import { docsRoutes } from './http/routes/docs';
import { eventRoutes } from './http/routes/events';
import type { TerminationFeed } from './events/termination-feed';
import { operationRoutes } from './http/routes/operations';
import { streamRoutes } from './http/routes/streams';
import { userRoutes } from './http/routes/users';
import { bothEvents, createMetrics, type Metrics } from './metrics';
import type { Readiness } from './readiness';

export interface AppDependencies {
  readonly config: Config;
  readonly store: LeaseStorePort;
  readonly logger: Logger;
  readonly readiness: Readiness;
  /** Epoch milliseconds; injectable so tests can move time. */
  readonly clock?: () => number;
  readonly events?: LeaseEvents;
  /** Prometheus metrics; main.ts also wires the store's hooks into them. A bare set when absent. */
  readonly metrics?: Metrics;
  /** Another request observer next to the metrics' (the EMF metrics); mounted before the routes. */
  readonly observeRequests?: RequestHandler;
  /** false: no GET /metrics at all (Lambda: nothing can scrape one container's registry; EMF replaces it). */
  readonly prometheusEndpoint?: boolean;
  /** Bearer-token verification for AUTH_MODE=jwt; built from the config when absent. */
  readonly verifyToken?: TokenVerifier;
  /** Terminations for GET /streams/events; absent, that route answers 503 (STREAM_EVENTS=off). */
  readonly streamEvents?: { readonly feed: TerminationFeed; readonly keepAliveMs?: number };
}

export interface App {
  readonly app: express.Express;
  /** Every API and operations route, as mounted (BASE_PATH included). */
  readonly routes: readonly RouteEntry[];
}

/**
 * What runs before an API route reads its body, in the contract's order:
 * rate limit (429), then authentication (401). The token is verified first
 * but its verdict is delivered after the limiter, which keys on its `sub`.
 */
function apiGuards(config: Config, verifyToken: TokenVerifier | undefined, logger: Logger): RequestHandler[] {
  const limiter = rateLimitPerClient(config.rateLimitPerMinute, logger);
  if (config.auth.mode === 'none') return limiter ? [limiter] : [];
  const verify = verifyToken ?? createTokenVerifier(config.auth);
  return [identifyCaller(verify), ...(limiter ? [limiter] : []), requireAuthentication];
}

/**
 * While draining, every answer says `Connection: close` so keep-alive clients reconnect to another
 * instance: answers to requests that arrive during the drain, and answers still being worked on
 * when it starts (otherwise their connections stay open and the drain waits for its force timer).
 */
function closeConnectionsWhenDraining(readiness: Readiness): RequestHandler {
  const unanswered = new Set<express.Response>();
  readiness.onDraining(() => {
    for (const res of unanswered) if (!res.headersSent) res.setHeader('Connection', 'close');
  });
  return (_req, res, next) => {
    if (readiness.isDraining()) {
      res.setHeader('Connection', 'close');
    } else {
      unanswered.add(res);
      res.once('close', () => unanswered.delete(res));
    }
    next();
  };
}

/** Builds the Express app; never listens (main.ts and tests do). */
export function createApp(deps: AppDependencies): App {
  const { config, logger } = deps;
  const metrics = deps.metrics ?? createMetrics();
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', config.trustProxy);
  app.set('query parser', 'simple');

  app.use(requestId);
  app.use(closeConnectionsWhenDraining(deps.readiness));
  app.use(requestLog(logger));
  app.use(metrics.observeRequests);
  if (deps.observeRequests) app.use(deps.observeRequests);
  // upgrade-insecure-requests would make browsers fetch /docs and /demo assets over https even when the
  // service is reached over plain http inside a VPC (an internal ALB), leaving those pages blank.
  app.use(helmet({ contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } }));
  app.use(cors(config.corsOrigins));

  const guards = apiGuards(config, deps.verifyToken, logger);
  const context: ApiContext = {
    config,
    policy: deps.store.policy,
    store: deps.store,
    clock: deps.clock ?? Date.now,
    guards,
    events: bothEvents(metrics.events, deps.events),
    authorize: (_req: Request, res, userId) => {
      const principal = res.locals.principal;
      if (principal && !principal.admin && principal.userId !== userId) {
        throw new Forbidden(`This token may act only on user ${principal.userId}.`);
      }
    },
    authorizeAdmin: (_req, res) => {
      const principal = res.locals.principal;
      if (principal && !principal.admin) throw new Forbidden('This needs the streams:admin scope.');
    },
  };

  const routes: RouteEntry[] = [];
  const operationRegistry: RouteEntry[] = [];
  const operations = operationRoutes(deps.readiness, operationRegistry);
  // With METRICS_PORT, /metrics lives only on that listener (createMetricsApp), so a load balancer
  // forwarding PORT never exposes admissions, rejections and heap figures to the internet.
  if (config.metricsPort === undefined && deps.prometheusEndpoint !== false)
    resource(operations, operationRegistry, '/metrics', { GET: [metrics.scrape] });
  app.use(operations);
  routes.push(...operationRegistry);

  const apiRegistry: RouteEntry[] = [];
  const api = express.Router();
  api.use(streamRoutes(context, apiRegistry));
  api.use(userRoutes(context, apiRegistry));
  api.use(eventRoutes(context, apiRegistry, deps.streamEvents?.feed, { keepAliveMs: deps.streamEvents?.keepAliveMs }));
  // Not behind the guards: reading the documentation needs no token and no rate-limit budget.
  api.use(docsRoutes(openApiOptions(config), apiRegistry));
  // Public like the docs; the API calls the page makes pass the guards like any player's.
  api.use(demoRoutes(config.basePath, apiRegistry));
  if (config.basePath) {
    // Operations stay at the root for load balancers, and also answer under the prefix.
    app.use(config.basePath, operations);
    routes.push(...operationRegistry.map((route) => ({ ...route, path: config.basePath + route.path })));
  }
  app.use(config.basePath || '/', api);
  routes.push(...apiRegistry.map((route) => ({ ...route, path: config.basePath + route.path })));

  app.use((req, _res, next) => next(new RouteNotFound(req.method, req.path)));
  app.use(problemHandler(logger));
  return { app, routes };
}

/** The METRICS_PORT listener's app: GET /metrics, and the same problem+json 404/405 as the API for the rest. */
export function createMetricsApp(deps: { readonly metrics: Metrics; readonly logger: Logger }): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestId);
  const router = express.Router();
  resource(router, [], '/metrics', { GET: [deps.metrics.scrape] });
  app.use(router);
  app.use((req, _res, next) => next(new RouteNotFound(req.method, req.path)));
  app.use(problemHandler(deps.logger));
  return app;
}
