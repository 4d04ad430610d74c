import type { RequestHandler } from 'express';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import type { LeaseEvents } from './http/routes/context';
import type { StoreCallReport } from './store/lease-store';

/**
 * Prometheus metrics of one app instance, on a registry of its own (never
 * prom-client's global one), so tests can build several apps side by side.
 * main.ts creates one, hands its store hooks to the LeaseStore and the rest
 * to createApp; createApp makes a bare one when given none.
 */
export interface Metrics {
  readonly registry: Registry;
  /** Admissions, 409s and 410s, as counted by the routes. */
  readonly events: LeaseEvents;
  /** LeaseStoreOptions.onStoreCall: DynamoDB latency and store errors. */
  readonly onStoreCall: (call: StoreCallReport) => void;
  /** LeaseStoreOptions.onLeasesPruned: expired leases the store removed. */
  readonly onLeasesPruned: (count: number) => void;
  /** Counts and times every request by route pattern; mount before the routes. */
  readonly observeRequests: RequestHandler;
  /** GET /metrics. */
  readonly scrape: RequestHandler;
}

/** Label for requests no route matched (404s): raw URLs would make a series per scanner probe. */
export const UNMATCHED_ROUTE = 'unmatched';

const STORE_ERROR_KINDS = ['timeout', 'throttled', 'unreachable', 'missing-table', 'error'] as const;

interface RequestSeries {
  readonly count: Counter.Internal;
  readonly duration: Histogram.Internal<'method' | 'route' | 'status'>;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry });

  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const requestDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from the request reaching the app to the last byte of the answer, by route pattern, method and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const admitted = new Counter({
    name: 'stream_limiter_admissions_total',
    help: 'Streams admitted (add answered 201).',
    registers: [registry],
  });
  const evictions = new Counter({
    name: 'stream_limiter_evictions_total',
    help: 'Streams ended by an evict-oldest add to make room for a new one.',
    registers: [registry],
  });
  const degradedAdmissions = new Counter({
    name: 'stream_limiter_degraded_admissions_total',
    help: 'Adds and heartbeats answered with an unstored lease because the store was unavailable (STORE_FAILURE_MODE=open).',
    registers: [registry],
  });
  const rejected = new Counter({
    name: 'stream_limiter_rejections_total',
    help: 'Adds refused because the user was at the limit (409 STREAM_LIMIT_REACHED).',
    registers: [registry],
  });
  const terminated = new Counter({
    name: 'stream_limiter_terminated_heartbeats_total',
    help: 'Heartbeats of removed or replaced streams (410 STREAM_TERMINATED): players told to stop.',
    registers: [registry],
  });
  const pruned = new Counter({
    name: 'stream_limiter_expired_leases_pruned_total',
    help: 'Expired leases (players gone silent) removed from the store when their user was next written.',
    registers: [registry],
  });
  const storeErrors = new Counter({
    name: 'stream_limiter_store_errors_total',
    help: 'DynamoDB calls that failed, by kind (each becomes a 503 unless a retry within the timeout succeeds).',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const writeUnits = new Counter({
    name: 'stream_limiter_dynamodb_write_units_total',
    help: 'DynamoDB write units consumed by applied writes, as DynamoDB reports them (ReturnConsumedCapacity), by operation.',
    labelNames: ['operation'] as const,
    registers: [registry],
  });
  const storeDuration = new Histogram({
    name: 'stream_limiter_dynamodb_call_duration_seconds',
    help: 'DynamoDB call latency, SDK retries included, by operation and outcome.',
    labelNames: ['operation', 'outcome'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  // Present from the first scrape, so rate() and alerts see a 0 rather than no series.
  for (const kind of STORE_ERROR_KINDS) storeErrors.labels(kind).inc(0);

  // Label children are looked up once per (method, route, status) and kept: the hot path
  // then costs two map lookups, one increment and one observe.
  const series = new Map<string, Map<string, Map<number, RequestSeries>>>();
  const requestSeries = (method: string, route: string, status: number): RequestSeries => {
    let byMethod = series.get(route);
    if (!byMethod) series.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (!byStatus) byMethod.set(method, (byStatus = new Map()));
    let found = byStatus.get(status);
    if (!found) {
      const labels = { method, route, status: String(status) };
      found = { count: requests.labels(labels), duration: requestDuration.labels(labels) };
      byStatus.set(status, found);
    }
    return found;
  };

  const observeRequests: RequestHandler = (req, res, next) => {
    const started = performance.now();
    res.once('finish', () => {
      // Every route declares its whole pattern on a router mounted at BASE_PATH or the root, so
      // req.route.path is the label (BASE_PATH left out: /dev/healthz and /healthz are one route).
      // req.baseUrl is no help: Express resets it before an error reaches the error handler, so a
      // 409 would be labelled apart from the 201s of the same route.
      const route = req.route ? String(req.route.path) : UNMATCHED_ROUTE;
      const { count, duration } = requestSeries(req.method, route, res.statusCode);
      count.inc();
      duration.observe((performance.now() - started) / 1000);
    });
    next();
  };

  const storeSeries = new Map<string, Histogram.Internal<'operation' | 'outcome'>>();
  const onStoreCall = (call: StoreCallReport): void => {
    const key = `${call.operation} ${call.outcome}`;
    let child = storeSeries.get(key);
    if (!child) storeSeries.set(key, (child = storeDuration.labels(call.operation, call.outcome)));
    child.observe(call.seconds);
    if (call.outcome !== 'ok' && call.outcome !== 'condition-failed') storeErrors.labels(call.outcome).inc();
    if (call.writeUnits !== undefined) writeUnits.labels(call.operation).inc(call.writeUnits);
  };

  return {
    registry,
    events: {
      admitted: () => admitted.inc(),
      rejected: () => rejected.inc(),
      terminated: () => terminated.inc(),
      evicted: (count) => evictions.inc(count),
      degraded: () => degradedAdmissions.inc(),
    },
    onStoreCall,
    onLeasesPruned: (count) => {
      if (count > 0) pruned.inc(count);
    },
    observeRequests,
    scrape: async (_req, res) => {
      const body = await registry.metrics();
      res.setHeader('Cache-Control', 'no-store');
      res.type(registry.contentType).send(body);
    },
  };
}

/** Both sinks see every event: the metrics, and whatever the caller passed as deps.events. */
export function bothEvents(first: LeaseEvents, second: LeaseEvents | undefined): LeaseEvents {
  if (!second) return first;
  return {
    admitted: () => (first.admitted(), second.admitted()),
    rejected: () => (first.rejected(), second.rejected()),
    terminated: () => (first.terminated(), second.terminated()),
    evicted: (count) => (first.evicted(count), second.evicted(count)),
    degraded: () => (first.degraded(), second.degraded()),
  };
}
