import type { LatencySummary } from './stats';

/** One measured load run, as written to the results JSON. */
export interface RunRecord {
  readonly name: string;
  readonly label: string;
  readonly connections: number;
  readonly wallS: number;
  readonly responses: number;
  readonly requestsPerSecond: number;
  readonly latencyMs: LatencySummary;
  readonly statuses: Record<string, number>;
  /** Answers other than 2xx, per status. */
  readonly non2xx: Record<string, number>;
  /** 5xx answers, connection errors and timeouts: what counts as failure. */
  readonly errors: { readonly status5xx: number; readonly connectionErrors: number; readonly timeouts: number };
  /** API requests sent, per kind (counted as autocannon built them). */
  readonly apiRequests?: Record<string, number>;
  /** DynamoDB requests counted by the proxy during the run, and per API request of each kind. */
  readonly dynamo?: {
    readonly byOperation: Record<string, number>;
    readonly total: number;
    readonly per: Record<string, number>;
  };
  /**
   * CPU µs per API request (per UpdateItem for floors) of each process during the run: the load generator
   * (this process), the proxy, the service (SDK and HTTP to DynamoDB included) and DynamoDB Local's JVM.
   */
  readonly cpuUsPerRequest?: Record<string, number>;
  readonly distribution: Array<[number, number]>;
  readonly note?: string;
  /** The raw UpdateItem through the proxy at the same concurrency, measured just before this run. */
  readonly pairedFloor?: {
    readonly p50: number;
    readonly p99: number;
    readonly p999: number;
    readonly requestsPerSecond: number;
    readonly durationS: number;
  };
}

export interface CpuRecord {
  readonly server: string;
  readonly description: string;
  readonly served: number;
  readonly achievedRate: number;
  readonly cpuUsPerRequest: number;
  readonly userUsPerRequest: number;
  readonly systemUsPerRequest: number;
  /** The figure of each measured window, to show the spread. */
  readonly roundsUsPerRequest: number[];
  readonly rssMb: number;
  readonly latencyMs: LatencySummary;
  readonly logLines?: number;
  /** CPU of one call of the stubbed DynamoDB caller by itself, µs. */
  readonly stubCallUs?: number;
}

export interface GrowthRecord {
  readonly usersInTable: number;
  readonly round: number;
  readonly heartbeat: RunRecord;
  readonly add: RunRecord;
}

export interface RssRecord {
  /** When in the run the service was measured. */
  readonly when: string;
  readonly connections: number;
  readonly rssBeforeMb: number;
  readonly rssWithConnectionsMb: number;
  /** VmHWM: the process's peak so far. */
  readonly peakRssMb: number;
}

export interface SeedRecord {
  readonly table: string;
  readonly users: number;
  readonly seconds: number;
  readonly itemsPerSecond: number;
  readonly stoppedEarly: boolean;
}

export interface TargetRow {
  readonly target: string;
  readonly figure: string;
  /** null: the figure cannot be judged (say why in it). */
  readonly reached: boolean | null;
}
