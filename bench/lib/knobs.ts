/*
 * The bench's settings, all from the environment (bench/README.md lists them), read once when the
 * bench starts; an unknown part in BENCH_PARTS or a malformed number stops it before anything runs.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './paths';

function knob(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0)
    throw new Error(`${name} must be a number >= 0 (got ${JSON.stringify(raw)})`);
  return value;
}

export const PARTS = [
  'floor',
  'client',
  'scenarios',
  'rss',
  'writecost',
  'cpu',
  'profile',
  'growth',
  'lambda',
] as const;
/** The node flags `npm start` runs the service with (package.json), so the bench measures the service as shipped. */
function startNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: { start: string } };
  return pkg.scripts.start.split(/\s+/).filter((word) => word.startsWith('--'));
}

export const knobs = {
  durationS: knob('BENCH_DURATION_S', 30),
  floorDurationS: knob('BENCH_FLOOR_DURATION_S', 20),
  pairedFloorS: knob('BENCH_PAIRED_FLOOR_S', 10),
  lowConnections: knob('BENCH_LOW_CONNECTIONS', 4),
  lowS: knob('BENCH_LOW_S', 15),
  warmupS: knob('BENCH_WARMUP_S', 5),
  dynamoWarmupS: knob('BENCH_DYNAMO_WARMUP_S', 30),
  serviceWarmupS: knob('BENCH_SERVICE_WARMUP_S', 15),
  connections: knob('BENCH_CONNECTIONS', 32),
  users: knob('BENCH_USERS', 10_000),
  coldUsers: knob('BENCH_COLD_USERS', 10_000),
  coldConnections: knob('BENCH_COLD_CONNECTIONS', 1000),
  contentionUsers: knob('BENCH_CONTENTION_USERS', 8),
  cpuDurationS: knob('BENCH_CPU_DURATION_S', 20),
  cpuRate: knob('BENCH_CPU_RATE', 500),
  cpuRounds: knob('BENCH_CPU_ROUNDS', 4),
  profileS: knob('BENCH_PROFILE_S', 10),
  idleConnections: knob('BENCH_IDLE_CONNECTIONS', 1000),
  growthUsers: knob('BENCH_GROWTH_USERS', 1_000_000),
  growthSmallUsers: knob('BENCH_GROWTH_SMALL_USERS', 1000),
  growthHeartbeats: knob('BENCH_GROWTH_HEARTBEATS', 10_000),
  growthAdds: knob('BENCH_GROWTH_ADDS', 2000),
  seedWriters: knob('BENCH_SEED_WRITERS', 8),
  seedMaxS: knob('BENCH_SEED_MAX_S', 1500),
  lambdaColdStarts: knob('BENCH_LAMBDA_COLD_STARTS', 7),
  lambdaWarmInvokes: knob('BENCH_LAMBDA_WARM_INVOKES', 2000),
  logLevel: process.env.BENCH_LOG_LEVEL?.trim() || 'info',
  /** Node flags for the service processes: by default npm start's (its heap settings), for experiments any. */
  serviceNodeFlags: (process.env.BENCH_SERVICE_NODE_FLAGS?.trim() ?? startNodeFlags().join(' '))
    .split(/\s+/)
    .filter(Boolean),
  parts: new Set((process.env.BENCH_PARTS?.trim() || PARTS.join(',')).split(',').map((part) => part.trim())),
  resultsDir: process.env.BENCH_RESULTS_DIR?.trim() || path.join(repoRoot, 'bench', 'results'),
};
for (const part of knobs.parts) {
  if (!(PARTS as readonly string[]).includes(part))
    throw new Error(`BENCH_PARTS: unknown part ${part} (known: ${PARTS.join(', ')})`);
}

export type Knobs = typeof knobs;
