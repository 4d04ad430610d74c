/** The few series of the service's /metrics the cost model reads, summed over the labels that do not matter here. */
export interface CostCounters {
  /** stream_limiter_dynamodb_write_units_total over every operation: what DynamoDB reported consumed. */
  readonly writeUnits: number;
  readonly writeUnitsByOperation: Record<string, number>;
  /** Applied writes (UpdateItem/PutItem/DeleteItem answered ok). */
  readonly appliedWrites: number;
  /** Writes whose condition failed: DynamoDB bills them but returns no ConsumedCapacity in the error. */
  readonly failedConditionWrites: number;
  /** API answers by route and status, e.g. "/streams/heartbeat 200". */
  readonly requests: Record<string, number>;
}

const WRITE_OPERATIONS = new Set(['UpdateItem', 'PutItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);

function labels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const match of text.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) out[match[1]!] = match[2]!;
  return out;
}

/** Parses the Prometheus text format (one sample a line) into the counters above. */
export function parseCostCounters(text: string): CostCounters {
  const writeUnitsByOperation: Record<string, number> = {};
  const requests: Record<string, number> = {};
  let appliedWrites = 0;
  let failedConditionWrites = 0;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const [, name, rawLabels = '', rawValue] = match;
    const value = Number(rawValue);
    if (!Number.isFinite(value)) continue;
    const tags = labels(rawLabels);
    if (name === 'stream_limiter_dynamodb_write_units_total') {
      const operation = tags.operation ?? 'unknown';
      writeUnitsByOperation[operation] = (writeUnitsByOperation[operation] ?? 0) + value;
    } else if (
      name === 'stream_limiter_dynamodb_call_duration_seconds_count' &&
      WRITE_OPERATIONS.has(tags.operation ?? '')
    ) {
      if (tags.outcome === 'ok') appliedWrites += value;
      else if (tags.outcome === 'condition-failed') failedConditionWrites += value;
    } else if (name === 'http_requests_total') {
      const key = `${tags.route ?? '?'} ${tags.status ?? '?'}`;
      requests[key] = (requests[key] ?? 0) + value;
    }
  }
  const writeUnits = Object.values(writeUnitsByOperation).reduce((sum, units) => sum + units, 0);
  return { writeUnits, writeUnitsByOperation, appliedWrites, failedConditionWrites, requests };
}

/** later − earlier, series by series. */
export function counterDelta(later: CostCounters, earlier: CostCounters): CostCounters {
  const diff = (a: Record<string, number>, b: Record<string, number>) =>
    Object.fromEntries(
      Object.entries(a)
        .map(([key, value]) => [key, value - (b[key] ?? 0)])
        .filter(([, v]) => v !== 0),
    );
  return {
    writeUnits: later.writeUnits - earlier.writeUnits,
    writeUnitsByOperation: diff(later.writeUnitsByOperation, earlier.writeUnitsByOperation),
    appliedWrites: later.appliedWrites - earlier.appliedWrites,
    failedConditionWrites: later.failedConditionWrites - earlier.failedConditionWrites,
    requests: diff(later.requests, earlier.requests),
  };
}
