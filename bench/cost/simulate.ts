/*
 * Drives a population of players against one running service for one lease setting, and measures
 * over a window: write units from the service's /metrics (DynamoDB's ReturnConsumedCapacity), play
 * time from the players, CPU from the service process.
 */
import { createApiClient } from './api-client';
import { Ledger, type CrashRecord } from './ledger';
import { runScreen, type World } from './player';
import type { Population } from './population';
import { counterDelta, parseCostCounters, type CostCounters } from './prometheus';
import { timeScale } from './time-scale';

export interface SimulationTarget {
  readonly url: string;
  /** CPU of the service process in ms, when it can be read (a child process); omitted for a stub. */
  readonly cpuMs?: () => number;
}

export interface SimulationOptions {
  readonly population: Population;
  /** Time compression: simulated seconds per wall second. */
  readonly factor: number;
  /** The measurement window starts here (simulated seconds) and ends at the population's horizon. */
  readonly warmupS: number;
  /** Crashed streams whose release is checked against the service (each costs two reads). */
  readonly maxCrashProbes: number;
  readonly log?: (line: string) => void;
}

export interface CrashSummary {
  readonly count: number;
  /** Real seconds (simulated). */
  readonly maxHeldS: number;
  readonly meanHeldS: number;
  readonly maxLastLeaseS: number;
  readonly probed: number;
  readonly verified: number;
  /** Probes whose first answer came after the expiry (a busy machine): they prove nothing either way. */
  readonly inconclusive: number;
  readonly failures: ReadonlyArray<{ userId: string; streamId: string; heldS: number; lastLeaseS: number }>;
}

export interface SimulationResult {
  readonly factor: number;
  readonly window: { readonly startS: number; readonly endS: number };
  readonly wallS: number;
  readonly playHours: number;
  /** Service counters over the window. */
  readonly counters: CostCounters;
  /** Units DynamoDB reported consumed (ReturnConsumedCapacity), per play-hour. */
  readonly reportedUnitsPerPlayHour: number;
  /** Writes whose condition failed, per play-hour: billed by DynamoDB, not reported back in the error. */
  readonly failedConditionWritesPerPlayHour: number;
  /** reported + failed conditions at 1 unit each (every item here is under 1 KB): the bill. */
  readonly writeUnitsPerPlayHour: number;
  readonly requestsPerPlayHour: number;
  /** Service CPU seconds per API request over the window; undefined without a process to read. */
  readonly cpuSecondsPerRequest: number | undefined;
  readonly players: {
    readonly sessionsStarted: number;
    readonly admitted: number;
    readonly refusedAtStart: number;
    readonly refusedWhileCrashedSlotHeld: number;
    readonly kicked: number;
    readonly replacesSent: number;
    readonly readds: number;
    readonly refusedReadds: number;
    readonly removes: number;
    readonly transientErrors: number;
    readonly transientByKind: Record<string, number>;
  };
  /**
   * How far the machine kept the players' schedule: timers firing late (a heartbeat is due one
   * interval after the previous one was due) and answers' latency, in wall ms. Lateness thins out
   * heartbeats; a mean of more than a few percent of the compressed interval calls for a lower COST_SCALE.
   */
  readonly timing: {
    readonly heartbeats: number;
    readonly meanLateWallMs: number;
    readonly maxLateWallMs: number;
    readonly meanLatencyWallMs: number;
  };
  readonly crashes: CrashSummary;
  /** Answers by granted heartbeat interval and by granted lease, real seconds → count. */
  readonly intervals: Record<string, number>;
  readonly leases: Record<string, number>;
}

const API_ROUTE = /^\/(streams|users)\//;

function apiRequests(counters: CostCounters): number {
  return Object.entries(counters.requests)
    .filter(([key]) => API_ROUTE.test(key))
    .reduce((sum, [, count]) => sum + count, 0);
}

function summarizeCrashes(crashes: readonly CrashRecord[]): CrashSummary {
  const held = crashes.map((crash) => crash.heldS);
  const probed = crashes.filter((crash) => crash.verified !== undefined || crash.inconclusive);
  return {
    count: crashes.length,
    maxHeldS: held.length ? Math.max(...held) : 0,
    meanHeldS: held.length ? held.reduce((a, b) => a + b, 0) / held.length : 0,
    maxLastLeaseS: crashes.length ? Math.max(...crashes.map((crash) => crash.lastLeaseS)) : 0,
    probed: probed.length,
    verified: probed.filter((crash) => crash.verified).length,
    inconclusive: probed.filter((crash) => crash.inconclusive).length,
    failures: probed
      .filter((crash) => crash.verified === false)
      .map((crash) => ({
        userId: crash.userId,
        streamId: crash.streamId,
        heldS: crash.heldS,
        lastLeaseS: crash.lastLeaseS,
      })),
  };
}

export async function simulate(target: SimulationTarget, options: SimulationOptions): Promise<SimulationResult> {
  const scale = timeScale(options.factor);
  const horizonS = options.population.params.horizonS;
  if (!(options.warmupS >= 0 && options.warmupS < horizonS)) throw new Error('warm-up must lie inside the horizon');
  const ledger = new Ledger(options.warmupS, horizonS);
  const client = createApiClient(target.url);
  const started = performance.now();
  const now = () => scale.toSimulatedS(performance.now() - started);
  let over = false;
  const waiters = new Set<(running: boolean) => void>();
  const probes: Promise<void>[] = [];
  let probeBudget = options.maxCrashProbes;

  const wait = (simulatedSeconds: number): Promise<boolean> => {
    if (over) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (running: boolean) => {
        clearTimeout(timer);
        waiters.delete(done);
        resolve(running);
      };
      const timer = setTimeout(() => done(true), Math.max(0, scale.toWallMs(simulatedSeconds)));
      waiters.add(done);
    });
  };

  const listed = async (userId: string, streamId: string): Promise<boolean> => {
    const answer = await client.get(`/users/${encodeURIComponent(userId)}/streams`);
    const streams = Array.isArray(answer.body.streams) ? (answer.body.streams as Array<{ streamId?: string }>) : [];
    return streams.some((stream) => stream.streamId === streamId);
  };
  const sleepWall = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

  const world: World = {
    client,
    scale,
    ledger,
    now,
    wait,
    live: new Map(),
    crashedHeld: new Map(),
    probeCrash: (crash, expiresAtS) => {
      if (probeBudget <= 0) return false;
      probeBudget--;
      // A tenth of the lease either side of its expiry, and at least 300 ms of wall time (a busy machine's latency).
      const marginS = Math.max(scale.toSimulatedS(300), crash.lastLeaseS / 10);
      probes.push(
        (async () => {
          await sleepWall(scale.toWallMs(expiresAtS - marginS - now()));
          const before = await listed(crash.userId, crash.streamId);
          // Only a round trip wholly before the expiry can prove the slot was still held.
          const answeredBeforeExpiry = now() < expiresAtS;
          await sleepWall(scale.toWallMs(expiresAtS + marginS - now()));
          const after = await listed(crash.userId, crash.streamId);
          if (after) crash.verified = false;
          else if (before) crash.verified = true;
          else if (answeredBeforeExpiry) crash.verified = false;
          else crash.inconclusive = true;
        })(),
      );
      return true;
    },
  };

  const scrape = async (): Promise<{ counters: CostCounters; cpuMs: number | undefined }> => {
    const cpuMs = target.cpuMs?.();
    const response = await fetch(`${target.url}/metrics`);
    return { counters: parseCostCounters(await response.text()), cpuMs };
  };
  const at = (simulatedSeconds: number) =>
    new Promise<void>((resolve) =>
      setTimeout(resolve, Math.max(0, scale.toWallMs(simulatedSeconds) - (performance.now() - started))),
    );

  const screens = options.population.users.flatMap((user) =>
    user.screens.map((screen) => runScreen(world, user, screen)),
  );
  await at(options.warmupS);
  const first = await scrape();
  options.log?.(`  window opens at ${options.warmupS} simulated s`);
  await at(horizonS);
  const last = await scrape();
  over = true;
  for (const waiter of [...waiters]) waiter(false);
  await Promise.all(screens);
  await Promise.all(probes);
  client.close();

  const counters = counterDelta(last.counters, first.counters);
  const playHours = ledger.playS / 3600;
  const perPlayHour = (value: number) => (playHours > 0 ? value / playHours : 0);
  const requests = apiRequests(counters);
  const cpuSecondsPerRequest =
    first.cpuMs !== undefined && last.cpuMs !== undefined && requests > 0
      ? (last.cpuMs - first.cpuMs) / 1000 / requests
      : undefined;
  const histogram = (map: Map<number, number>) =>
    Object.fromEntries([...map.entries()].sort((a, b) => a[0] - b[0]).map(([key, count]) => [String(key), count]));
  return {
    factor: options.factor,
    window: { startS: options.warmupS, endS: horizonS },
    wallS: (performance.now() - started) / 1000,
    playHours,
    counters,
    reportedUnitsPerPlayHour: perPlayHour(counters.writeUnits),
    failedConditionWritesPerPlayHour: perPlayHour(counters.failedConditionWrites),
    writeUnitsPerPlayHour: perPlayHour(counters.writeUnits + counters.failedConditionWrites),
    requestsPerPlayHour: perPlayHour(requests),
    cpuSecondsPerRequest,
    players: {
      sessionsStarted: ledger.sessionsStarted,
      admitted: ledger.admitted,
      refusedAtStart: ledger.refusedAtStart,
      refusedWhileCrashedSlotHeld: ledger.refusedWhileCrashedSlotHeld,
      kicked: ledger.kicked,
      replacesSent: ledger.replacesSent,
      readds: ledger.readds,
      refusedReadds: ledger.refusedReadds,
      removes: ledger.removes,
      transientErrors: ledger.transientErrors,
      transientByKind: Object.fromEntries(ledger.transientByKind),
    },
    timing: {
      heartbeats: ledger.heartbeatsTimed,
      meanLateWallMs: ledger.heartbeatsTimed ? ledger.lateWallMs / ledger.heartbeatsTimed : 0,
      maxLateWallMs: ledger.maxLateWallMs,
      meanLatencyWallMs: ledger.heartbeatsTimed ? ledger.latencyWallMs / ledger.heartbeatsTimed : 0,
    },
    crashes: summarizeCrashes(ledger.crashes),
    intervals: histogram(ledger.intervals),
    leases: histogram(ledger.leases),
  };
}
