/*
 * `npm run cost`: the same seeded population plays against the service twice, with fixed 30 s
 * heartbeats and with adaptive leases, each run on its own service process and DynamoDB Local;
 * then the measured cost is priced and extrapolated. Progress goes to stderr; stdout gets exactly
 * one line, the comparison.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readBenchCpuMicros } from './bench-cpu';
import { renderCostChart } from './chart';
import { DEFAULT_FLEET, dollarsPerThousandPlayHours, fleetCost } from './extrapolate';
import { DEFAULT_POPULATION, generatePopulation, summarizePopulation } from './population';
import { PRICES } from './pricing';
import { headline, renderCostMarkdown, scheduleKept, type CostReport, type RunReport } from './report';
import { startDynamo, startService } from './service-process';
import { simulate } from './simulate';
import { ADAPTIVE, FIXED, scaledServiceEnv, type LeaseSettings } from './time-scale';
import { repoRoot } from '../lib/paths';

function knob(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return value;
}

const knobs = {
  users: knob('COST_USERS', DEFAULT_POPULATION.users),
  horizonMin: knob('COST_HORIZON_MIN', 60),
  warmupMin: knob('COST_WARMUP_MIN', 10),
  scale: knob('COST_SCALE', 30),
  seed: knob('COST_SEED', DEFAULT_POPULATION.seed),
  leaseMaxSeconds: knob('COST_LEASE_MAX_SECONDS', ADAPTIVE.leaseMaxSeconds),
  crashProbes: knob('COST_CRASH_PROBES', 20),
  resultsDir: process.env.COST_RESULTS_DIR ?? path.join('bench', 'results'),
};

const log = (line: string) => process.stderr.write(`cost: ${line}\n`);
const cleanups = new Set<() => Promise<void>>();

async function runOne(settings: LeaseSettings, population: ReturnType<typeof generatePopulation>): Promise<RunReport> {
  const serviceEnv = scaledServiceEnv(settings, knobs.scale);
  const dynamo = await startDynamo();
  const stopDynamo = () => dynamo.stop();
  cleanups.add(stopDynamo);
  try {
    const service = await startService({
      dynamoEndpoint: dynamo.endpoint,
      table: `cost-${settings.name}`,
      env: serviceEnv,
    });
    const stopService = () => service.stop();
    cleanups.add(stopService);
    try {
      log(
        `${settings.name}: ${JSON.stringify(serviceEnv)}, ${population.users.length} users, ${(population.params.horizonS / knobs.scale).toFixed(0)} s of wall time`,
      );
      const result = await simulate(
        { url: service.url, cpuMs: service.cpuMs },
        { population, factor: knobs.scale, warmupS: knobs.warmupMin * 60, maxCrashProbes: knobs.crashProbes, log },
      );
      log(
        `${settings.name}: ${result.writeUnitsPerPlayHour.toFixed(1)} write units per play-hour over ${result.playHours.toFixed(1)} play-hours`,
      );
      const longerIntervalsGranted = Object.keys(result.intervals).some(
        (interval) => Number(interval) > settings.heartbeatIntervalSeconds,
      );
      return {
        settings,
        serviceEnv,
        result,
        dollarsPerThousandPlayHours: dollarsPerThousandPlayHours(result.writeUnitsPerPlayHour),
        longerIntervalsGranted,
      };
    } finally {
      cleanups.delete(stopService);
      await service.stop();
    }
  } finally {
    cleanups.delete(stopDynamo);
    await dynamo.stop();
  }
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const loadStart = os.loadavg()[0]!;
  const population = generatePopulation({
    ...DEFAULT_POPULATION,
    users: Math.round(knobs.users),
    horizonS: knobs.horizonMin * 60,
    seed: Math.round(knobs.seed),
  });
  const fixed = await runOne(FIXED, population);
  const adaptive = await runOne({ ...ADAPTIVE, leaseMaxSeconds: knobs.leaseMaxSeconds }, population);

  const benchMicros = readBenchCpuMicros(path.join(repoRoot, 'bench', 'results', 'latest.md'));
  const measuredMicros = {
    fixed: fixed.result.cpuSecondsPerRequest === undefined ? undefined : fixed.result.cpuSecondsPerRequest * 1e6,
    adaptive:
      adaptive.result.cpuSecondsPerRequest === undefined ? undefined : adaptive.result.cpuSecondsPerRequest * 1e6,
  };
  const cpuMicros = benchMicros ?? measuredMicros.fixed ?? 600;
  const cpuSource =
    benchMicros !== undefined
      ? 'the real service under heartbeat load, bench/results/latest.md, scenario 2-heartbeat'
      : measuredMicros.fixed !== undefined
        ? 'measured in this run (fixed leases)'
        : 'an assumed 600 µs (neither the bench nor this run gave a figure)';
  const streamCost = (run: RunReport) => ({
    writeUnitsPerPlayHour: run.result.writeUnitsPerPlayHour,
    requestsPerPlayHour: run.result.requestsPerPlayHour,
    cpuSecondsPerRequest: cpuMicros / 1e6,
  });
  const extrapolation = [1_000, 100_000, 10_000_000].map((streams) => ({
    streams,
    fixed: fleetCost(streams, streamCost(fixed)),
    adaptive: fleetCost(streams, streamCost(adaptive)),
  }));
  const ratio = fixed.result.writeUnitsPerPlayHour / Math.max(1e-9, adaptive.result.writeUnitsPerPlayHour);
  const report: CostReport = {
    generatedAt: new Date().toISOString(),
    commit: commit(),
    node: process.version,
    loadAverage: { start: loadStart, end: os.loadavg()[0]! },
    knobs: { ...knobs },
    population: { params: population.params, summary: summarizePopulation(population) },
    prices: PRICES,
    runs: { fixed, adaptive },
    ratio,
    heartbeatRatioBound: knobs.leaseMaxSeconds / 3 / FIXED.heartbeatIntervalSeconds,
    worstCase: {
      fixedHoldS: FIXED.leaseSeconds,
      adaptiveHoldS: knobs.leaseMaxSeconds,
      extraS: knobs.leaseMaxSeconds - FIXED.leaseSeconds,
    },
    cpu: { source: cpuSource, secondsPerRequest: cpuMicros / 1e6, benchMicros, measuredMicros },
    fleet: DEFAULT_FLEET,
    extrapolation,
  };

  const dir = path.resolve(repoRoot, knobs.resultsDir);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'cost.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(path.join(dir, 'cost.md'), renderCostMarkdown(report));
  writeFileSync(
    path.join(dir, 'cost.svg'),
    renderCostChart({
      title: `Write cost per play-hour and per month, fixed 30 s heartbeats vs adaptive leases (${report.generatedAt.slice(0, 10)})`,
      fixed: { reported: fixed.result.reportedUnitsPerPlayHour, failed: fixed.result.failedConditionWritesPerPlayHour },
      adaptive: {
        reported: adaptive.result.reportedUnitsPerPlayHour,
        failed: adaptive.result.failedConditionWritesPerPlayHour,
      },
      fleets: extrapolation,
    }),
  );
  log(`wrote ${path.relative(repoRoot, dir)}/cost.json, cost.md, cost.svg`);
  for (const run of [fixed, adaptive]) {
    if (!scheduleKept(run)) {
      log(
        `WARNING: ${run.settings.name}: heartbeat timers fired ${run.result.timing.meanLateWallMs.toFixed(0)} ms late on average: the machine did not keep up, the figures undercount; rerun on a quieter machine, with fewer COST_USERS or a lower COST_SCALE`,
      );
    }
  }
  if (!adaptive.longerIntervalsGranted)
    log(
      'WARNING: the service granted no interval above HEARTBEAT_INTERVAL_SECONDS: adaptive leases are not in this build',
    );
  process.stdout.write(`${headline(ratio)}\n`);
}

const shutdown = async (code: number) => {
  await Promise.all([...cleanups].map((cleanup) => cleanup().catch(() => undefined)));
  process.exit(code);
};
process.once('SIGINT', () => void shutdown(130));
process.once('SIGTERM', () => void shutdown(143));
main().catch(async (error: unknown) => {
  process.stderr.write(`cost: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  await shutdown(1);
});
