/* The profile part: where the CPU goes, from node --cpu-prof, by package and by function. */
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { BenchContext } from '../lib/context';
import { dynamicPost, runLoad } from '../lib/load';
import { scratchDir } from '../lib/paths';
import { stopChild } from '../lib/processes';
import { summarizeProfile, type ProfileSummary } from '../lib/profile';
import { startService } from '../lib/service';
import { heartbeatLoad, startCpuServer } from '../lib/stub-servers';

function freshDir(name: string): string {
  const dir = path.join(scratchDir, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

function logProfile(log: (message: string) => void, summary: ProfileSummary): void {
  log(
    `  busiest: ${summary.areas
      .slice(0, 6)
      .map((area) => `${area.name} ${area.percent}%`)
      .join(', ')}`,
  );
}

/**
 * Where the CPU goes, from `node --cpu-prof` (start-up left out): the stubbed
 * service under the CPU measurement's load, and the real service (dist/main.js,
 * a separate short-lived instance on its own table, through the proxy) under
 * heartbeats at concurrency 32.
 */
export async function runProfiles({ knobs, log, proxy }: BenchContext): Promise<ProfileSummary[]> {
  const summaries: ProfileSummary[] = [];
  const stubDir = freshDir('profile-stub');
  const spawnedAt = performance.now();
  const stub = await startCpuServer('service', path.join(scratchDir, 'cpu-profile.log'), [
    '--cpu-prof',
    `--cpu-prof-dir=${stubDir}`,
  ]);
  let skipMs: number;
  try {
    log(
      `profile: stubbed service, ${knobs.cpuRate} heartbeats/s for ${knobs.profileS} s (after a ${knobs.warmupS} s warm-up)`,
    );
    await runLoad({
      title: 'warm-up',
      url: stub.url,
      connections: knobs.connections,
      durationS: knobs.warmupS,
      requests: [heartbeatLoad()],
    });
    skipMs = performance.now() - spawnedAt;
    await runLoad({
      title: 'profile',
      url: stub.url,
      connections: knobs.connections,
      durationS: knobs.profileS,
      overallRate: knobs.cpuRate,
      requests: [heartbeatLoad()],
    });
  } finally {
    await stopChild(stub.child);
  }
  summaries.push({
    ...summarizeProfile(stubDir, skipMs),
    what: `stubbed service (as in the CPU table), ${knobs.cpuRate} heartbeats/s`,
  });
  logProfile(log, summaries[0]!);

  const realDir = freshDir('profile-service');
  const service = await startService(knobs, 'bench-profile', proxy.endpoint, [
    '--cpu-prof',
    `--cpu-prof-dir=${realDir}`,
  ]);
  try {
    const users = 1000;
    let admitted = 0;
    await runLoad({
      title: 'admit',
      url: service.url,
      connections: knobs.connections,
      amount: users,
      requests: [dynamicPost(() => ({ path: '/streams/add', body: { userId: `pf-${admitted++}`, streamId: 'p1' } }))],
    });
    let beat = 0;
    const heartbeats = () =>
      dynamicPost(() => ({ path: '/streams/heartbeat', body: { userId: `pf-${beat++ % users}`, streamId: 'p1' } }));
    log(
      `profile: real service (dist/main.js via the proxy), heartbeats at c=${knobs.connections} for ${knobs.profileS} s`,
    );
    await runLoad({
      title: 'warm-up',
      url: service.url,
      connections: knobs.connections,
      durationS: knobs.warmupS,
      requests: [heartbeats()],
    });
    skipMs = performance.now() - service.spawnedAt;
    await runLoad({
      title: 'profile',
      url: service.url,
      connections: knobs.connections,
      durationS: knobs.profileS,
      requests: [heartbeats()],
    });
  } finally {
    await stopChild(service.child);
  }
  summaries.push({
    ...summarizeProfile(realDir, skipMs),
    what: `real service (dist/main.js, LOG_LEVEL=${knobs.logLevel}, DynamoDB Local via the proxy), heartbeats at c=${knobs.connections}`,
  });
  logProfile(log, summaries[1]!);
  return summaries;
}
