import type { RequestHandler } from 'express';
import { Unit } from 'aws-embedded-metrics';
// The library's context and serializer, without its environment detection: that probes ECS's
// metadata endpoint and then insists on a CloudWatch agent sidecar, while both our stacks only
// need lines on stdout (Lambda and the awslogs driver ship them; CloudWatch Logs extracts them).
import { MetricsContext } from 'aws-embedded-metrics/lib/logger/MetricsContext';
import { LogSerializer } from 'aws-embedded-metrics/lib/serializers/LogSerializer';
import type { LeaseEvents } from '../http/routes/context';
import type { StoreCallReport } from '../store/lease-store';

/** CloudWatch namespace of every metric this module writes; the dashboards read the same names. */
export const EMF_NAMESPACE = 'StreamLimiter';

/** Metric names; the CDK dashboards (infra/lib/dashboard.ts) name the same ones, held equal by test/unit/emf-names.test.ts. */
export const EMF_METRICS = {
  admissions: 'Admissions',
  rejections: 'Rejections',
  evictions: 'Evictions',
  terminations: 'Terminations',
  degradedAdmissions: 'DegradedAdmissions',
  heartbeats: 'Heartbeats',
  concurrentStreams: 'ConcurrentStreamsEstimate',
  storeErrors: 'StoreErrors',
  dynamoCalls: 'DynamoDbCalls',
  dynamoLatency: 'DynamoDbLatency',
  dynamoWriteUnits: 'DynamoDbWriteUnits',
} as const;

/** Latency samples kept per DynamoDB operation per flush: one EMF line holds at most 100 values per metric. */
const LATENCY_SAMPLES = 100;

/** The lease events, including the ones evict-oldest and STORE_FAILURE_MODE=open report. */
export interface EmfEvents extends LeaseEvents {
  evicted(count: number): void;
  degraded(): void;
}

export interface EmfOptions {
  /** The lease table: the `Table` dimension, which keeps two deployments' metrics apart. */
  readonly table: string;
  /** Receives each EMF line (no newline); stdout by default, which Lambda and awslogs ship. */
  readonly write?: (line: string) => void;
  readonly now?: () => number;
}

export interface EmfMetrics {
  readonly events: EmfEvents;
  /** LeaseStoreOptions.onStoreCall: DynamoDB latency, write units and errors by kind. */
  readonly onStoreCall: (call: StoreCallReport) => void;
  /** Counts the answers that keep a stream live (add 2xx, heartbeat 200) and the interval each was told. */
  readonly observeRequests: RequestHandler;
  /** Writes what was counted since the last flush as EMF lines; writes nothing when nothing happened. */
  flush(): void;
  /**
   * Flushes at every minute boundary (ECS): one line set per instance per minute, so the
   * concurrent-streams estimate summed over a minute adds up across instances. Returns a stop
   * function that flushes what is left.
   */
  flushEveryMinute(): () => void;
}

interface OperationTotals {
  calls: number;
  writeUnits: number;
  /** Reservoir of latencies in ms (Algorithm R): bounded lines per flush whatever the traffic. */
  readonly samples: number[];
}

const LIVE_ROUTES = new Set(['/streams/add', '/streams/heartbeat']);

/**
 * Business metrics as CloudWatch Embedded Metric Format lines, fed by the same hooks as the
 * Prometheus metrics (LeaseEvents, onStoreCall, a request observer). Requests only increment
 * counters in memory; lines are written on flush (every minute on ECS, at the end of each
 * invoke on Lambda), so the hot path never waits on a log write.
 */
export function createEmfMetrics(options: EmfOptions): EmfMetrics {
  const write = options.write ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const now = options.now ?? Date.now;
  const serializer = new LogSerializer();

  let counts = zeroCounts();
  let streamMinutes = 0;
  let operations = new Map<string, OperationTotals>();
  let errors = new Map<string, number>();
  let active = false;

  const events: EmfEvents = {
    admitted: () => void ((counts.admissions += 1), (active = true)),
    rejected: () => void ((counts.rejections += 1), (active = true)),
    terminated: () => void ((counts.terminations += 1), (active = true)),
    evicted: (count) => void ((counts.evictions += count), (active = true)),
    degraded: () => void ((counts.degradedAdmissions += 1), (active = true)),
  };

  const onStoreCall = (call: StoreCallReport): void => {
    active = true;
    let totals = operations.get(call.operation);
    if (!totals) operations.set(call.operation, (totals = { calls: 0, writeUnits: 0, samples: [] }));
    totals.calls += 1;
    totals.writeUnits += call.writeUnits ?? 0;
    const ms = Math.round(call.seconds * 100_000) / 100;
    if (totals.samples.length < LATENCY_SAMPLES) totals.samples.push(ms);
    else {
      const slot = Math.floor(Math.random() * totals.calls);
      if (slot < LATENCY_SAMPLES) totals.samples[slot] = ms;
    }
    if (call.outcome !== 'ok' && call.outcome !== 'condition-failed') {
      errors.set(call.outcome, (errors.get(call.outcome) ?? 0) + 1);
    }
  };

  const observeRequests: RequestHandler = (req, res, next) => {
    if (req.method !== 'POST') return next();
    // The interval the answer tells the player is how often this stream will write again, so
    // interval/60 is this stream's share of a minute's live streams (adaptive leases included).
    let interval: number | undefined;
    const json = res.json.bind(res);
    res.json = (body: unknown) => {
      const told = (body as { heartbeatIntervalSeconds?: unknown } | null)?.heartbeatIntervalSeconds;
      if (typeof told === 'number') interval = told;
      return json(body);
    };
    res.once('finish', () => {
      const route = req.route ? String(req.route.path) : '';
      if (interval === undefined || res.statusCode >= 300 || !LIVE_ROUTES.has(route)) return;
      active = true;
      if (route === '/streams/heartbeat') counts.heartbeats += 1;
      streamMinutes += interval / 60;
    });
    next();
  };

  const line = (dimensions: Record<string, string>, put: (context: MetricsContext) => void, timestamp: number) => {
    const context = MetricsContext.empty();
    context.setNamespace(EMF_NAMESPACE);
    context.setDimensions([dimensions], false);
    context.setTimestamp(timestamp);
    put(context);
    for (const serialized of serializer.serialize(context)) write(serialized);
  };

  const flushAt = (timestamp: number): void => {
    if (!active) return;
    const table = { Table: options.table };
    const snapshot = { counts, streamMinutes, operations, errors };
    counts = zeroCounts();
    streamMinutes = 0;
    operations = new Map();
    errors = new Map();
    active = false;

    line(
      table,
      (context) => {
        const c = snapshot.counts;
        context.putMetric(EMF_METRICS.admissions, c.admissions, Unit.Count);
        context.putMetric(EMF_METRICS.rejections, c.rejections, Unit.Count);
        context.putMetric(EMF_METRICS.evictions, c.evictions, Unit.Count);
        context.putMetric(EMF_METRICS.terminations, c.terminations, Unit.Count);
        context.putMetric(EMF_METRICS.degradedAdmissions, c.degradedAdmissions, Unit.Count);
        context.putMetric(EMF_METRICS.heartbeats, c.heartbeats, Unit.Count);
        context.putMetric(EMF_METRICS.concurrentStreams, Math.round(snapshot.streamMinutes * 1000) / 1000, Unit.Count);
      },
      timestamp,
    );
    for (const [operation, totals] of snapshot.operations) {
      line(
        { ...table, Operation: operation },
        (context) => {
          context.putMetric(EMF_METRICS.dynamoCalls, totals.calls, Unit.Count);
          context.putMetric(EMF_METRICS.dynamoWriteUnits, totals.writeUnits, Unit.Count);
          for (const ms of totals.samples) context.putMetric(EMF_METRICS.dynamoLatency, ms, Unit.Milliseconds);
        },
        timestamp,
      );
    }
    // Only kinds that happened: a kind's series (and its monthly charge) appears with its first error.
    for (const [kind, count] of snapshot.errors) {
      line(
        { ...table, Kind: kind },
        (context) => context.putMetric(EMF_METRICS.storeErrors, count, Unit.Count),
        timestamp,
      );
    }
  };

  return {
    events,
    onStoreCall,
    observeRequests,
    flush: () => flushAt(now()),
    flushEveryMinute: () => {
      let timer: NodeJS.Timeout | undefined;
      const schedule = () => {
        const boundary = Math.floor(now() / 60_000 + 1) * 60_000;
        timer = setTimeout(() => {
          // Stamped inside the minute it covers, so CloudWatch files it under that minute.
          flushAt(boundary - 1);
          schedule();
        }, boundary - now());
        timer.unref();
      };
      schedule();
      return () => {
        clearTimeout(timer);
        flushAt(now());
      };
    },
  };
}

function zeroCounts() {
  return { admissions: 0, rejections: 0, evictions: 0, terminations: 0, degradedAdmissions: 0, heartbeats: 0 };
}

/** LeaseStoreOptions.onStoreCall for both sinks: Prometheus always, EMF when it is on. */
export function teeStoreCalls(
  first: (call: StoreCallReport) => void,
  emf: EmfMetrics | undefined,
): (call: StoreCallReport) => void {
  if (!emf) return first;
  return (call) => {
    first(call);
    emf.onStoreCall(call);
  };
}
