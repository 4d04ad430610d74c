import { parseBenchCpuMicros } from '../../bench/cost/bench-cpu';
import { renderCostChart } from '../../bench/cost/chart';
import {
  breakEvenUtilization,
  DEFAULT_FLEET,
  dollarsPerThousandPlayHours,
  fleetCost,
} from '../../bench/cost/extrapolate';
import { DEFAULT_POPULATION, generatePopulation, summarizePopulation } from '../../bench/cost/population';
import { counterDelta, parseCostCounters } from '../../bench/cost/prometheus';
import { ADAPTIVE, FIXED, scaledServiceEnv, timeScale } from '../../bench/cost/time-scale';

describe('population generator', () => {
  it('gives the same population for the same seed and another for another seed', () => {
    const a = generatePopulation({ ...DEFAULT_POPULATION, users: 50 });
    const b = generatePopulation({ ...DEFAULT_POPULATION, users: 50 });
    const c = generatePopulation({ ...DEFAULT_POPULATION, users: 50, seed: 14 });
    expect(b.users).toEqual(a.users);
    expect(c.users).not.toEqual(a.users);
  });

  it('draws 1, 2 and 3 screens per user in the configured shares', () => {
    const summary = summarizePopulation(generatePopulation({ ...DEFAULT_POPULATION, users: 6000 }));
    for (const [screens, share] of DEFAULT_POPULATION.screens) {
      expect((summary.usersByScreens[screens] ?? 0) / 6000).toBeCloseTo(share, 1);
    }
    expect(Object.keys(summary.usersByScreens).sort()).toEqual(['1', '2', '3']);
  });

  it('plans sessions one after another on each screen, within bounds, starting before the horizon', () => {
    const population = generatePopulation({ ...DEFAULT_POPULATION, users: 300 });
    const { sessionMinS, sessionMaxS, horizonS } = DEFAULT_POPULATION;
    for (const user of population.users) {
      expect(user.userId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/);
      for (const screen of user.screens) {
        let previousEnd = 0;
        screen.sessions.forEach((session, index) => {
          expect(session.startS).toBeGreaterThanOrEqual(previousEnd);
          expect(session.startS).toBeLessThan(horizonS);
          // Only a screen found playing at t=0 may start with a shorter (residual) session.
          if (index > 0 || session.startS > 0) expect(session.lengthS).toBeGreaterThanOrEqual(sessionMinS);
          expect(session.lengthS).toBeLessThanOrEqual(sessionMaxS);
          previousEnd = session.startS + session.lengthS;
        });
      }
    }
  });

  it('ends about the configured share of sessions in a crash and starts about the configured share with a replace', () => {
    const summary = summarizePopulation(generatePopulation({ ...DEFAULT_POPULATION, users: 6000 }));
    expect(summary.crashes / summary.sessions).toBeCloseTo(DEFAULT_POPULATION.crashShare, 1);
    expect(summary.replaces / summary.sessions).toBeLessThan(DEFAULT_POPULATION.replaceShare * 1.5);
    expect(summary.replaces).toBeGreaterThan(0);
  });

  it('starts screens in their steady state: about the on-share of them are playing at t=0', () => {
    const population = generatePopulation({ ...DEFAULT_POPULATION, users: 4000 });
    const screens = population.users.flatMap((user) => user.screens);
    const playingAtZero = screens.filter((screen) => screen.sessions[0]?.startS === 0).length / screens.length;
    // Mean clipped session ≈ 53 min against 20 min pauses: about 0.73.
    expect(playingAtZero).toBeGreaterThan(0.6);
    expect(playingAtZero).toBeLessThan(0.85);
  });
});

describe('time scale', () => {
  it('divides every lease setting by the factor, LEASE_MAX_SECONDS included', () => {
    expect(scaledServiceEnv(FIXED, 30)).toEqual({
      LEASE_SECONDS: '3',
      HEARTBEAT_INTERVAL_SECONDS: '1',
      LEASE_MAX_SECONDS: '3',
    });
    expect(scaledServiceEnv(ADAPTIVE, 30)).toEqual({
      LEASE_SECONDS: '3',
      HEARTBEAT_INTERVAL_SECONDS: '1',
      LEASE_MAX_SECONDS: '10',
    });
    expect(scaledServiceEnv(ADAPTIVE, 10)).toEqual({
      LEASE_SECONDS: '9',
      HEARTBEAT_INTERVAL_SECONDS: '3',
      LEASE_MAX_SECONDS: '30',
    });
  });

  it('refuses a factor that would give the service a fraction of a second', () => {
    expect(() => scaledServiceEnv(FIXED, 7)).toThrow(/LEASE_SECONDS=90 s would be 12.857/);
    expect(() => scaledServiceEnv(FIXED, 45)).toThrow(/HEARTBEAT_INTERVAL_SECONDS=30 s would be 0.666/);
  });

  it('converts both ways', () => {
    const scale = timeScale(30);
    expect(scale.toWallMs(90)).toBe(3000);
    expect(scale.toSimulatedS(1000)).toBe(30);
  });
});

describe('reading the service counters', () => {
  const scrape = (units: number, ok: number, failed: number, heartbeats: number) =>
    [
      '# HELP stream_limiter_dynamodb_write_units_total DynamoDB write units',
      '# TYPE stream_limiter_dynamodb_write_units_total counter',
      `stream_limiter_dynamodb_write_units_total{operation="UpdateItem"} ${units}`,
      'stream_limiter_dynamodb_write_units_total{operation="PutItem"} 2',
      `stream_limiter_dynamodb_call_duration_seconds_count{operation="UpdateItem",outcome="ok"} ${ok}`,
      `stream_limiter_dynamodb_call_duration_seconds_count{operation="UpdateItem",outcome="condition-failed"} ${failed}`,
      'stream_limiter_dynamodb_call_duration_seconds_count{operation="GetItem",outcome="ok"} 40',
      `stream_limiter_dynamodb_call_duration_seconds_bucket{le="0.01",operation="UpdateItem",outcome="ok"} ${ok}`,
      `http_requests_total{method="POST",route="/streams/heartbeat",status="200"} ${heartbeats}`,
      'http_requests_total{method="GET",route="/metrics",status="200"} 3',
      '',
    ].join('\n');

  it('sums write units over operations and counts failed conditions of writes only', () => {
    const counters = parseCostCounters(scrape(10.5, 9, 2, 7));
    expect(counters.writeUnits).toBe(12.5);
    expect(counters.writeUnitsByOperation).toEqual({ UpdateItem: 10.5, PutItem: 2 });
    expect(counters.appliedWrites).toBe(9);
    expect(counters.failedConditionWrites).toBe(2);
    expect(counters.requests).toEqual({ '/streams/heartbeat 200': 7, '/metrics 200': 3 });
  });

  it('takes the difference between two scrapes', () => {
    const delta = counterDelta(parseCostCounters(scrape(110, 100, 5, 90)), parseCostCounters(scrape(10, 9, 2, 7)));
    expect(delta.writeUnits).toBe(100);
    expect(delta.writeUnitsByOperation).toEqual({ UpdateItem: 100 });
    expect(delta.failedConditionWrites).toBe(3);
    expect(delta.requests).toEqual({ '/streams/heartbeat 200': 83 });
  });

  it('reads the service CPU per heartbeat from the bench results table', () => {
    const row =
      '| `2-heartbeat` heartbeats on the 10000 live streams | 32 | heartbeat: 45204 | 1506 | 20.16 | 43.41 | 55.77 | – | 0 | **1.0000/heartbeat** (UpdateItem: 45204) | 524 |';
    expect(parseBenchCpuMicros(`# Benchmark\n\n${row}\n`)).toBe(524);
    expect(parseBenchCpuMicros('# nothing here\n')).toBeUndefined();
  });
});

describe('extrapolation arithmetic', () => {
  it('turns 120 units per play-hour (30 s heartbeats) at 10M streams into the issue’s 333,000 writes/s and $750/hour on-demand', () => {
    const fleet = fleetCost(10_000_000, {
      writeUnitsPerPlayHour: 120,
      requestsPerPlayHour: 120,
      cpuSecondsPerRequest: 500e-6,
    });
    expect(fleet.writeUnitsPerSecond).toBeCloseTo(333_333.33, 1);
    expect(fleet.partitions).toBe(334);
    expect(fleet.onDemandPerMonth / 730).toBeCloseTo(750, 6);
    expect(fleet.provisionedWcu).toBe(Math.ceil(333_333.34 / 0.7));
    expect(fleet.provisionedPerMonth).toBeCloseTo(fleet.provisionedWcu * 730 * 0.00065, 6);
    // 333,333 req/s × 500 µs = 166.7 vCPUs busy, 0.15 vCPU usable per task.
    expect(fleet.ecsTasks).toBe(Math.ceil(166.67 / 0.15));
  });

  it('never goes below one partition or the minimum task count', () => {
    const fleet = fleetCost(10, { writeUnitsPerPlayHour: 36, requestsPerPlayHour: 36, cpuSecondsPerRequest: 500e-6 });
    expect(fleet.partitions).toBe(1);
    expect(fleet.ecsTasks).toBe(DEFAULT_FLEET.minTasks);
  });

  it('prices 1,000 play-hours on-demand and provisioned', () => {
    const dollars = dollarsPerThousandPlayHours(120);
    expect(dollars.onDemand).toBeCloseTo(0.075, 10);
    expect(dollars.provisioned).toBeCloseTo((120_000 * 0.00065) / 3600 / 0.7, 10);
  });

  it('puts the on-demand/provisioned break-even at about 29% utilization', () => {
    expect(breakEvenUtilization()).toBeCloseTo(0.2889, 3);
  });
});

describe('chart', () => {
  it('draws both panels with a bar per run and four per fleet size', () => {
    const fleet = (units: number) =>
      fleetCost(100_000, { writeUnitsPerPlayHour: units, requestsPerPlayHour: units, cpuSecondsPerRequest: 5e-4 });
    const svg = renderCostChart({
      title: 'a <title> & more',
      fixed: { reported: 120, failed: 1 },
      adaptive: { reported: 40, failed: 1 },
      fleets: [{ streams: 100_000, fixed: fleet(121), adaptive: fleet(41) }],
    });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('a &lt;title&gt; &amp; more');
    expect(svg).toContain('>121.0<');
    expect(svg).toContain('>41.0<');
    expect(svg.match(/<title>/g)).toHaveLength(4);
  });
});
