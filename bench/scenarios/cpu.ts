/*
 * The cpu part: CPU per request (process.cpuUsage() in each server's own process) of the stubbed
 * service with and without its request log, of a bare node:http handler and of Express 5 with one
 * route, under the same paced heartbeat load.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { BenchContext } from '../lib/context';
import { runLoad } from '../lib/load';
import { scratchDir } from '../lib/paths';
import { round, rpc, stopChild } from '../lib/processes';
import { Samples, summarize } from '../lib/stats';
import { CPU_SERVERS, heartbeatLoad, startCpuServer } from '../lib/stub-servers';
import type { CpuRecord } from '../lib/types';

interface CpuUsage {
  userUs: number;
  systemUs: number;
  served: number;
  wallMs: number;
  rssMb: number;
}

/**
 * All three servers up at once, each in its own process, measured in
 * alternating windows (bare, service, service-silent, bare, ...) under the
 * same paced load, so that the machine's drift lands on all of them alike.
 */
export async function measureCpu({ knobs, log }: Pick<BenchContext, 'knobs' | 'log'>): Promise<CpuRecord[]> {
  const modes = Object.keys(CPU_SERVERS) as Array<keyof typeof CPU_SERVERS>;
  const servers = [];
  try {
    for (const mode of modes) {
      const logFile = path.join(scratchDir, `cpu-${mode}.log`);
      // The service as shipped (npm start's heap flags); the bare handler as plain node.
      servers.push({
        mode,
        logFile,
        ...(await startCpuServer(mode, logFile, mode === 'bare' || mode === 'express' ? [] : knobs.serviceNodeFlags)),
      });
    }
    const conns = knobs.connections;
    const rounds = Math.max(1, knobs.cpuRounds);
    const windowS = knobs.cpuDurationS / rounds;
    for (const server of servers) {
      log(`cpu ${server.mode}: warm-up ${knobs.warmupS} s`);
      await runLoad({
        title: 'warm-up',
        url: server.url,
        connections: conns,
        durationS: knobs.warmupS,
        requests: [heartbeatLoad()],
      });
    }
    log(
      `cpu: ${rounds} rounds of ${windowS} s per server, ${knobs.cpuRate} heartbeats/s over ${conns} connections, servers in alternation`,
    );
    const totals = new Map(
      servers.map((server) => [
        server.mode,
        { userUs: 0, systemUs: 0, served: 0, wallMs: 0, rssMb: 0, samples: new Samples(), rounds: [] as number[] },
      ]),
    );
    for (let round = 0; round < rounds; round++) {
      for (const server of servers) {
        await rpc(server.child, { cmd: 'cpu-start' });
        const load = await runLoad({
          title: server.mode,
          url: server.url,
          connections: conns,
          amount: Math.round(knobs.cpuRate * windowS),
          overallRate: knobs.cpuRate,
          requests: [heartbeatLoad()],
        });
        const usage = await rpc<CpuUsage>(server.child, { cmd: 'cpu-stop' });
        if (load.statuses['200'] !== load.responses)
          throw new Error(`cpu ${server.mode}: answers other than 200: ${JSON.stringify(load.statuses)}`);
        const total = totals.get(server.mode)!;
        total.userUs += usage.userUs;
        total.systemUs += usage.systemUs;
        total.served += usage.served;
        total.wallMs += usage.wallMs;
        total.rssMb = usage.rssMb;
        total.rounds.push(round2((usage.userUs + usage.systemUs) / Math.max(1, usage.served)));
        for (const value of load.samples.sorted()) total.samples.add(value);
      }
    }
    return servers.map((server) => {
      const total = totals.get(server.mode)!;
      const served = Math.max(1, total.served);
      const record: CpuRecord = {
        server: server.mode,
        description: CPU_SERVERS[server.mode],
        served: total.served,
        achievedRate: Math.round(total.served / (total.wallMs / 1000)),
        cpuUsPerRequest: round((total.userUs + total.systemUs) / served, 1),
        userUsPerRequest: round(total.userUs / served, 1),
        systemUsPerRequest: round(total.systemUs / served, 1),
        roundsUsPerRequest: total.rounds,
        rssMb: round(total.rssMb, 1),
        latencyMs: summarize(total.samples),
        ...(server.mode === 'service' && {
          logLines: readFileSync(server.logFile, 'utf8').split('\n').filter(Boolean).length,
        }),
        ...(server.mode !== 'bare' && { stubCallUs: round(server.stubCallUs, 1) }),
      };
      log(
        `  ${server.mode}: ${record.cpuUsPerRequest} µs CPU per request (rounds: ${total.rounds.join(', ')}), ${record.achievedRate} req/s served`,
      );
      return record;
    });
  } finally {
    await Promise.all(servers.map((server) => stopChild(server.child)));
  }
}

const round2 = (value: number) => round(value, 1);
