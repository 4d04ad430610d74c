import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_POPULATION, generatePopulation, type PopulationParams } from '../../bench/cost/population';
import { parseCostCounters } from '../../bench/cost/prometheus';
import { startService, type RunningService } from '../../bench/cost/service-process';
import { simulate } from '../../bench/cost/simulate';
import { FIXED, scaledServiceEnv } from '../../bench/cost/time-scale';

/*
 * The cost model's harness, fast: a handful of players for a few seconds of wall time (minutes of
 * simulated time at 30×). The write units must come from the service's /metrics, not from a count
 * of requests times a guess.
 */
const SMALL: PopulationParams = {
  ...DEFAULT_POPULATION,
  users: 8,
  sessionMedianS: 150,
  sessionMinS: 60,
  sessionMaxS: 300,
  pauseMeanS: 60,
  crashShare: 0.3,
  replaceShare: 0.2,
  horizonS: 300,
  seed: 7,
};

/** A stand-in service whose /metrics claims 7 write units for every write: only a harness that reads them reports 7. */
function startStub(): Promise<{ url: string; close: () => Promise<void> }> {
  const live = new Map<string, number>();
  const ended = new Set<string>();
  const requests = new Map<string, number>();
  let writes = 0;
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    req.on('end', () => {
      const body = (raw ? JSON.parse(raw) : {}) as Record<string, string>;
      const key = `${body.userId} ${body.streamId}`;
      const answer = (status: number, payload: object, route = req.url ?? '') => {
        requests.set(`${route} ${status}`, (requests.get(`${route} ${status}`) ?? 0) + 1);
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
      };
      const lease = () => {
        live.set(key, Date.now() + 3000);
        return { expiresAt: new Date(Date.now() + 3000).toISOString(), heartbeatIntervalSeconds: 1 };
      };
      if (req.url === '/metrics') {
        const lines = [`stream_limiter_dynamodb_write_units_total{operation="UpdateItem"} ${writes * 7}`];
        for (const [series, count] of requests) {
          const [route, status] = series.split(' ');
          lines.push(`http_requests_total{method="X",route="${route}",status="${status}"} ${count}`);
        }
        res.end(`${lines.join('\n')}\n`);
        return;
      }
      writes++;
      if (req.url === '/streams/add') {
        if (body.replaceStreamId) {
          live.delete(`${body.userId} ${body.replaceStreamId}`);
          ended.add(`${body.userId} ${body.replaceStreamId}`);
        }
        return answer(201, lease());
      }
      if (req.url === '/streams/heartbeat') {
        if (ended.has(key)) return answer(410, { code: 'STREAM_TERMINATED' });
        if ((live.get(key) ?? 0) < Date.now()) return answer(404, { code: 'STREAM_NOT_FOUND' });
        return answer(200, lease());
      }
      live.delete(key);
      return answer(200, { removed: true });
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () => new Promise<void>((done) => server.close(() => done())),
      }),
    ),
  );
}

// Each run lasts the population's horizon: 300 simulated s at 30× is 10 s of wall time.
jest.setTimeout(60_000);

describe('cost simulation harness', () => {
  it('reports the write units the service says it consumed, not one per request', async () => {
    const stub = await startStub();
    try {
      const result = await simulate(
        { url: stub.url },
        { population: generatePopulation(SMALL), factor: 30, warmupS: 60, maxCrashProbes: 0 },
      );
      expect(result.playHours).toBeGreaterThan(0);
      expect(result.requestsPerPlayHour).toBeGreaterThan(0);
      expect(result.reportedUnitsPerPlayHour / result.requestsPerPlayHour).toBeCloseTo(7, 6);
      expect(result.cpuSecondsPerRequest).toBeUndefined();
    } finally {
      await stub.close();
    }
  });

  describe('against the real service on DynamoDB Local', () => {
    let service: RunningService;

    beforeAll(async () => {
      service = await startService({
        dynamoEndpoint: process.env.TEST_DYNAMODB_ENDPOINT!,
        table: `cost-smoke-${randomUUID().slice(0, 8)}`,
        env: scaledServiceEnv(FIXED, 30),
      });
    });
    afterAll(() => service?.stop());

    it('measures the write units of 30 s heartbeats from the service counter and sees crashed slots freed at their last lease expiry', async () => {
      const result = await simulate(
        { url: service.url, cpuMs: service.cpuMs },
        { population: generatePopulation(SMALL), factor: 30, warmupS: 60, maxCrashProbes: 5 },
      );
      const total = parseCostCounters(await (await fetch(`${service.url}/metrics`)).text());

      // Units are DynamoDB's own (ReturnConsumedCapacity), and the window is part of the service's total.
      expect(result.counters.writeUnitsByOperation.UpdateItem).toBeGreaterThan(0);
      expect(result.counters.writeUnits).toBeLessThanOrEqual(total.writeUnits);
      // Most players get in (a loaded machine may time out a few adds of the opening burst; players retry).
      expect(result.players.admitted).toBeGreaterThan(result.players.sessionsStarted / 2);
      // 3,600 s ÷ 30 s = 120 heartbeats a play-hour, plus an add and a remove per session of a few
      // minutes here (about 50 more); generous both ways, the machine is shared.
      expect(result.writeUnitsPerPlayHour).toBeGreaterThan(120);
      expect(result.writeUnitsPerPlayHour).toBeLessThan(260);
      expect(Object.keys(result.intervals)).toEqual(['30']);
      expect(result.cpuSecondsPerRequest).toBeGreaterThan(0);
      // A crashed player's slot is held at most its last granted lease (LEASE_SECONDS here).
      expect(result.crashes.count).toBeGreaterThan(0);
      expect(result.crashes.maxHeldS).toBeLessThanOrEqual(FIXED.leaseSeconds + 1);
      expect(result.crashes.probed).toBeGreaterThan(0);
      expect(result.crashes.failures).toEqual([]);
      expect(result.crashes.verified + result.crashes.inconclusive).toBe(result.crashes.probed);
    });
  });
});
