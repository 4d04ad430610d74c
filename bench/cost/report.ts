/* cost.json's shape and cost.md's text. */
import { breakEvenUtilization, type FleetAssumptions, type FleetCost, type PlayHourDollars } from './extrapolate';
import type { PopulationParams, PopulationSummary } from './population';
import { PRICE_SOURCES, PRICES } from './pricing';
import type { SimulationResult } from './simulate';
import type { LeaseSettings } from './time-scale';

export interface RunReport {
  readonly settings: LeaseSettings;
  /** What the service process was started with (compressed). */
  readonly serviceEnv: Record<string, string>;
  readonly result: SimulationResult;
  readonly dollarsPerThousandPlayHours: PlayHourDollars;
  /** Whether any answer granted a heartbeat interval above HEARTBEAT_INTERVAL_SECONDS (the service does adaptive leases). */
  readonly longerIntervalsGranted: boolean;
}

export interface CostReport {
  readonly generatedAt: string;
  readonly commit: string;
  readonly node: string;
  readonly loadAverage: { readonly start: number; readonly end: number };
  readonly knobs: Record<string, string | number>;
  readonly population: { readonly params: PopulationParams; readonly summary: PopulationSummary };
  readonly prices: typeof PRICES;
  readonly runs: { readonly fixed: RunReport; readonly adaptive: RunReport };
  /** fixed ÷ adaptive write units per play-hour. */
  readonly ratio: number;
  /** The best ratio the contract's rule allows for heartbeats alone: (LEASE_MAX_SECONDS ÷ 3) ÷ HEARTBEAT_INTERVAL_SECONDS. */
  readonly heartbeatRatioBound: number;
  readonly worstCase: {
    /** Longest a crashed player can hold a slot: its last lease (LEASE_SECONDS fixed, LEASE_MAX_SECONDS adaptive). */
    readonly fixedHoldS: number;
    readonly adaptiveHoldS: number;
    readonly extraS: number;
  };
  readonly cpu: {
    readonly source: string;
    readonly secondsPerRequest: number;
    readonly benchMicros: number | undefined;
    readonly measuredMicros: { readonly fixed: number | undefined; readonly adaptive: number | undefined };
  };
  readonly fleet: FleetAssumptions;
  readonly extrapolation: ReadonlyArray<{
    readonly streams: number;
    readonly fixed: FleetCost;
    readonly adaptive: FleetCost;
  }>;
}

/**
 * Whether the machine kept the players' schedule: timers late by more than 5% of the compressed
 * fixed interval on average mean heartbeats were thinned out and the run undercounts.
 */
export function scheduleKept(run: RunReport): boolean {
  const intervalWallMs = (Number(run.serviceEnv.HEARTBEAT_INTERVAL_SECONDS) || 1) * 1000;
  return run.result.timing.meanLateWallMs <= intervalWallMs * 0.05;
}

export function headline(ratio: number): string {
  return `adaptive: ${ratio.toFixed(1)}x fewer write units per play-hour than fixed 30 s heartbeats`;
}

const fmt = (value: number, digits = 2) =>
  value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const int = (value: number) => Math.round(value).toLocaleString('en-US');
const money = (value: number) => `$${fmt(value)}`;
const micros = (value: number | undefined) => (value === undefined ? 'n/a' : `${fmt(value, 0)} µs`);

function histogram(record: Record<string, number>): string {
  return Object.entries(record)
    .map(([key, count]) => `${key} s × ${int(count)}`)
    .join(', ');
}

function runRows(report: CostReport): string[] {
  const rows = [
    [
      'LEASE_SECONDS / HEARTBEAT_INTERVAL_SECONDS / LEASE_MAX_SECONDS (real)',
      (r: RunReport) =>
        `${r.settings.leaseSeconds} / ${r.settings.heartbeatIntervalSeconds} / ${r.settings.leaseMaxSeconds}`,
    ],
    [
      'the same, as the service ran them (compressed)',
      (r: RunReport) =>
        `${r.serviceEnv.LEASE_SECONDS} / ${r.serviceEnv.HEARTBEAT_INTERVAL_SECONDS} / ${r.serviceEnv.LEASE_MAX_SECONDS}`,
    ],
    ['play-hours in the window', (r: RunReport) => fmt(r.result.playHours, 1)],
    ['write units reported by DynamoDB (ReturnConsumedCapacity)', (r: RunReport) => int(r.result.counters.writeUnits)],
    [
      'failed conditional writes (billed, not reported back)',
      (r: RunReport) => int(r.result.counters.failedConditionWrites),
    ],
    ['**write units per play-hour**', (r: RunReport) => `**${fmt(r.result.writeUnitsPerPlayHour, 1)}**`],
    [
      'of which reported / failed conditions',
      (r: RunReport) =>
        `${fmt(r.result.reportedUnitsPerPlayHour, 1)} / ${fmt(r.result.failedConditionWritesPerPlayHour, 1)}`,
    ],
    ['API requests per play-hour', (r: RunReport) => fmt(r.result.requestsPerPlayHour, 1)],
    ['$ per 1,000 play-hours, on-demand', (r: RunReport) => money(r.dollarsPerThousandPlayHours.onDemand)],
    [
      `$ per 1,000 play-hours, provisioned at ${report.fleet.provisionedUtilization * 100}% utilization`,
      (r: RunReport) => money(r.dollarsPerThousandPlayHours.provisioned),
    ],
    ['granted heartbeat intervals (real s × answers)', (r: RunReport) => histogram(r.result.intervals)],
    ['granted leases, to the nearest 5 s (real s × answers)', (r: RunReport) => histogram(r.result.leases)],
    [
      'sessions started / admitted / refused at start',
      (r: RunReport) =>
        `${r.result.players.sessionsStarted} / ${r.result.players.admitted} / ${r.result.players.refusedAtStart}`,
    ],
    [
      'refused while a crashed player still held a slot',
      (r: RunReport) => String(r.result.players.refusedWhileCrashedSlotHeld),
    ],
    [
      'replaces sent / players kicked (410)',
      (r: RunReport) => `${r.result.players.replacesSent} / ${r.result.players.kicked}`,
    ],
    [
      're-adds after 404 / refused re-adds',
      (r: RunReport) => `${r.result.players.readds} / ${r.result.players.refusedReadds}`,
    ],
    [
      'crashes: slot held after the crash, mean / max (real s)',
      (r: RunReport) => `${fmt(r.result.crashes.meanHeldS, 1)} / ${fmt(r.result.crashes.maxHeldS, 1)}`,
    ],
    ['crashes: longest last lease (real s)', (r: RunReport) => fmt(r.result.crashes.maxLastLeaseS, 1)],
    [
      'crashes probed: slot listed before expiry and freed after',
      (r: RunReport) =>
        `${r.result.crashes.verified} of ${r.result.crashes.probed}${r.result.crashes.inconclusive ? ` (${r.result.crashes.inconclusive} answered too late to tell)` : ''}; ${r.result.crashes.failures.length} failed; ${r.result.crashes.count} crashes in all`,
    ],
    [
      'heartbeat timers: mean / max lateness; mean answer latency (wall ms)',
      (r: RunReport) =>
        `${fmt(r.result.timing.meanLateWallMs, 1)} / ${fmt(r.result.timing.maxLateWallMs, 0)}; ${fmt(r.result.timing.meanLatencyWallMs, 1)}`,
    ],
    ['transient errors (503, 429, network)', (r: RunReport) => String(r.result.players.transientErrors)],
    [
      'service CPU per API request (this run)',
      (r: RunReport) =>
        micros(r.result.cpuSecondsPerRequest === undefined ? undefined : r.result.cpuSecondsPerRequest * 1e6),
    ],
    ['wall time of the run', (r: RunReport) => `${fmt(r.result.wallS, 0)} s`],
  ] as const;
  return [
    '| | fixed 30 s heartbeats | adaptive |',
    '|---|---:|---:|',
    ...rows.map(([label, cell]) => `| ${label} | ${cell(report.runs.fixed)} | ${cell(report.runs.adaptive)} |`),
  ];
}

function fleetRows(report: CostReport): string[] {
  const rows = report.extrapolation.flatMap(({ streams, fixed, adaptive }) =>
    [
      ['fixed', fixed],
      ['adaptive', adaptive],
    ].map(([name, f]) => {
      const fleet = f as FleetCost;
      return `| ${int(streams)} | ${name as string} | ${int(fleet.writeUnitsPerSecond)} | ${int(fleet.partitions)} | ${int(fleet.provisionedWcu)} | ${int(fleet.ecsTasks)} | ${money(fleet.onDemandPerMonth)} | ${money(fleet.provisionedPerMonth)} | ${money(fleet.ecsPerMonth)} |`;
    }),
  );
  return [
    '| concurrent streams | leases | write units/s | partitions (writes) | provisioned WCU | ECS tasks | DynamoDB on-demand $/month | DynamoDB provisioned $/month | ECS (Fargate) $/month |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
  ];
}

export function renderCostMarkdown(report: CostReport): string {
  const { fixed, adaptive } = report.runs;
  const summary = report.population.summary;
  const params = report.population.params;
  const notActive = !adaptive.longerIntervalsGranted
    ? [
        '',
        `> **Adaptive leases were not in effect**: the service answered no heartbeat interval above ${adaptive.settings.heartbeatIntervalSeconds} s with LEASE_MAX_SECONDS=${adaptive.settings.leaseMaxSeconds}, so both runs cost the same. Rerun \`npm run cost\` on a build that has the feature.`,
      ]
    : [];
  const late = [fixed, adaptive].filter((run) => !scheduleKept(run));
  const lateWarning = late.length
    ? [
        '',
        `> **The machine did not keep up** (${late.map((run) => `${run.settings.name}: timers ${fmt(run.result.timing.meanLateWallMs, 0)} ms late on average`).join('; ')}): heartbeats were thinned out and the figures undercount. Rerun on a quieter machine, with fewer \`COST_USERS\` or a lower \`COST_SCALE\`.`,
      ]
    : [];
  return [
    `# Write cost model — ${report.generatedAt.slice(0, 10)}`,
    '',
    `Commit \`${report.commit}\`, Node ${report.node}; 1-minute load average ${fmt(report.loadAverage.start)} at start, ${fmt(report.loadAverage.end)} at end (a shared 2-core machine). Produced by \`npm run cost\` (bench/cost/).`,
    '',
    `**${headline(report.ratio)}** (the contract's rule caps the heartbeat saving at ${fmt(report.heartbeatRatioBound, 2)}x: an interval of at most a third of LEASE_MAX_SECONDS against ${fixed.settings.heartbeatIntervalSeconds} s).`,
    ...notActive,
    ...lateWarning,
    '',
    '## How it is measured',
    '',
    `A simulation, not a formula: ${summary.users} users (${Object.entries(summary.usersByScreens)
      .map(([screens, users]) => `${users} on ${screens} screen${screens === '1' ? '' : 's'}`)
      .join(
        ', ',
      )}) play ${summary.sessions} planned sessions (log-normal length, median ${params.sessionMedianS / 60} min, ${params.sessionMinS / 60} min to ${params.sessionMaxS / 3600} h; pauses of ${params.pauseMeanS / 60} min on average; ${params.crashShare * 100}% end in a crash without remove; ${params.replaceShare * 100}% start with "watch here instead" on another screen, kicking it) against the real service (\`dist/main.js\`, one process, its own DynamoDB Local in memory per run). The service runs with its defaults except the lease settings below, \`RATE_LIMIT_PER_MINUTE=0\` (every player shares one address), \`LOG_LEVEL=warn\` and \`DYNAMODB_TIMEOUT_MS=5000\` (on a busy shared machine a 1 s bound turns slow writes into 503s whose units nobody reports; the row "transient errors" shows whether any remained). Each player behaves as the SDK does: next heartbeat \`heartbeatIntervalSeconds\` after the last answer, \`expiresAt\` as its lease, re-add on 404, stop on 410. The same seeded population plays both runs.`,
    '',
    `Time is compressed ${report.knobs.scale}×: LEASE_SECONDS, HEARTBEAT_INTERVAL_SECONDS, LEASE_MAX_SECONDS, session and pause lengths are all divided by the same factor, so every ratio between them, and so the number of writes a session makes, is unchanged (a 45-minute session with 30 s heartbeats makes 90 of them at any speed); play time is measured on the wall clock and multiplied back. What does not scale is latency: in real time an answer comes within milliseconds of its request (0.1% of a 30 s interval), compressed 30× the same latency and a busy machine's timer lag would be 30× larger against the interval, so each player keeps the real-time schedule (a heartbeat is due one interval after the previous one was due, the interval being the last answer's) and the row "heartbeat timers" shows how late timers still fired. The service takes whole seconds, so a compressed interval is rounded down by the service: at ${report.knobs.scale}× an adaptive interval of 100 s may become ${Math.floor(100 / Number(report.knobs.scale))} s (${Math.floor(100 / Number(report.knobs.scale)) * Number(report.knobs.scale)} s real): the granted intervals are listed below, and \`COST_SCALE=10\` runs without that rounding (three times longer).`,
    '',
    `Write units are the service's own \`stream_limiter_dynamodb_write_units_total\` (DynamoDB's \`ReturnConsumedCapacity\` on every write), read from \`/metrics\` at the start and end of the window (simulated minutes ${report.knobs.warmupMin} to ${report.knobs.horizonMin}), plus the writes whose condition failed (the service counts them; DynamoDB bills each at least 1 unit but returns no consumed capacity with the error; every item here is under 1 KB).`,
    '',
    '## Per play-hour',
    '',
    ...runRows(report),
    '',
    '## Worst case: how long a crashed player holds a slot',
    '',
    `A player that crashes without remove holds its slot until its last granted lease runs out: at most LEASE_SECONDS (${report.worstCase.fixedHoldS} s) with fixed leases, at most LEASE_MAX_SECONDS (${report.worstCase.adaptiveHoldS} s) with adaptive ones, so adaptive leases can keep a slot taken up to **${report.worstCase.extraS} s longer**. They are granted only when the write left the user at least one free slot beyond the one taken (the contract's rule), so the extra time hurts only a user who then fills every other slot within those ${report.worstCase.extraS} s: the rows "crashes" and "refused while a crashed player still held a slot" above measure how often that happened in this population. Probed crashes were listed by \`GET /users/{userId}/streams\` a tenth of a lease before their \`expiresAt\` and gone a tenth after it.`,
    '',
    '## Extrapolation',
    '',
    `N concurrent streams are N play-hours per hour: write units/s = N × units per play-hour ÷ 3600. Partitions: one per ${int(report.fleet.partitionWriteUnitsPerSecond)} write units/s. Provisioned capacity at ${report.fleet.provisionedUtilization * 100}% target utilization (auto scaling's default target). ECS tasks of ${report.fleet.taskVcpu} vCPU / ${report.fleet.taskMemoryGb} GB (the infra defaults) kept at ${report.fleet.taskCpuTarget * 100}% CPU, at least ${report.fleet.minTasks}, from ${micros(report.cpu.secondsPerRequest * 1e6)} of service CPU per request (${report.cpu.source}; this run measured ${micros(report.cpu.measuredMicros.fixed)} fixed and ${micros(report.cpu.measuredMicros.adaptive)} adaptive at a few hundred requests a second, where a process's idle costs weigh more). A vCPU here is a core of the shared bench machine, not a Fargate vCPU: treat the task counts as an order of magnitude. Reads (list, check) and storage are left out: heartbeats are the bill.`,
    '',
    ...fleetRows(report),
    '',
    `Provisioned capacity is cheaper than on-demand whenever the provisioned capacity is used at more than ${fmt(breakEvenUtilization() * 100, 1)}% on average ($${PRICES.provisionedPerWcuHour} per WCU-hour against $${PRICES.onDemandPerMillionWriteUnits} per million write units): a steady audience is well above that; a spiky one with a high floor may not be.`,
    '',
    `Prices: ${PRICES.region}, list prices read on ${PRICES.consultedOn}: on-demand $${PRICES.onDemandPerMillionWriteUnits} per million write request units, provisioned $${PRICES.provisionedPerWcuHour} per WCU-hour, Fargate $${PRICES.fargatePerVcpuHour} per vCPU-hour and $${PRICES.fargatePerGbHour} per GB-hour, ${PRICES.hoursPerMonth} hours a month. Sources:`,
    '',
    ...PRICE_SOURCES.map((source) => `- ${source.what}: <${source.url}>`),
    '',
    'Chart: [cost.svg](cost.svg).',
    '',
  ].join('\n');
}
