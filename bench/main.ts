/*
 * `npm run bench` (through bench/run.js). Measures the built service against
 * DynamoDB Local and writes bench/results/<date>.json, latest.md and
 * latency.svg. Processes: this one (orchestrator and load generator,
 * autocannon as a library), DynamoDB Local (Java), the counting proxy
 * (support/dynamo-proxy.ts in a child), the service (dist/main.js in a
 * child, talking to DynamoDB Local through the proxy) and, for the CPU
 * figures, stub servers in children. Every child is stopped at the end, on
 * failure and on Ctrl-C, and dies with this process anyway (see
 * lib/exit-with-parent.ts; DynamoDB Local has its own watchdog).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLocalDynamo, type LocalDynamo } from '../src/store/local-dynamo';
import type { BenchContext } from './lib/context';
import { prepareFloorTable } from './lib/floor-requests';
import { knobs } from './lib/knobs';
import { benchStarted, log } from './lib/log';
import { repoRoot, scratchDir } from './lib/paths';
import { findJavaChild, killChildren, round, stopChild } from './lib/processes';
import { startProxy } from './lib/proxy';
import { evaluateTargets, renderMarkdown, renderSvg, type BenchResults } from './lib/report';
import { gitCommit, uptime } from './lib/run-environment';
import { startService } from './lib/service';
import type { RssRecord } from './lib/types';
import { runScenarios } from './scenarios/api-scenarios';
import { compareClientCpu } from './scenarios/client-cpu';
import { measureCpu } from './scenarios/cpu';
import { runFloors } from './scenarios/floor';
import { runGrowth } from './scenarios/growth';
import { measureLambda } from './scenarios/lambda';
import { runProfiles } from './scenarios/profile';
import { measureRss } from './scenarios/rss';
import { measureWriteCost, renderWriteCost, type WriteCostRecord } from './scenarios/write-cost';

let dynamo: LocalDynamo | undefined;

async function cleanup(): Promise<void> {
  await killChildren();
  await dynamo?.stop();
}

async function main(): Promise<void> {
  mkdirSync(scratchDir, { recursive: true });
  mkdirSync(knobs.resultsDir, { recursive: true });
  const startedAt = new Date();
  const loadSamples: number[] = [];
  const loadSampler = setInterval(() => loadSamples.push(os.loadavg()[0]!), 5000);
  loadSampler.unref();
  const uptimeAtStart = uptime();
  log(`start: ${uptimeAtStart}; parts: ${[...knobs.parts].join(',')}`);

  dynamo = await startLocalDynamo();
  const javaPid = findJavaChild(dynamo.pid);
  log(`DynamoDB Local at ${dynamo.endpoint} (in memory, JVM pid ${javaPid ?? 'not found'})`);
  const proxy = await startProxy(dynamo.endpoint);
  log(`counting proxy at ${proxy.endpoint}`);
  await prepareFloorTable(dynamo.endpoint, knobs.connections);
  const ctx: BenchContext = { knobs, log, dynamoEndpoint: dynamo.endpoint, javaPid, proxy };

  const results: BenchResults & { writeCost?: WriteCostRecord } = {
    date: startedAt.toISOString(),
    environment: {
      node: process.version,
      cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown'}`,
      memoryGb: round(os.totalmem() / 2 ** 30, 1),
      commit: gitCommit(),
      uptimeAtStart,
      uptimeAtEnd: '',
      loadAverage1m: { min: 0, mean: 0, max: 0 },
      loadGenerator:
        'autocannon 8 as a library in the orchestrator process (its own process; the proxy, the service and DynamoDB Local each run in theirs)',
      service: {
        entry: ['node', ...knobs.serviceNodeFlags, 'dist/main.js'].join(' '),
        logLevel: knobs.logLevel,
        logDestination: 'pino JSON lines on stdout, redirected to bench/.tmp/service-<table>.log',
        store: 'DynamoDB Local (in memory) through the counting proxy (support/dynamo-proxy.ts, in its own process)',
        env: {
          RATE_LIMIT_PER_MINUTE: '0',
          STREAM_LIMIT: '3 (default)',
          LEASE_SECONDS: '90 (default)',
          DYNAMODB_TIMEOUT_MS: '1000 (default)',
        },
      },
    },
    knobs: { ...knobs, parts: [...knobs.parts] },
    floors: [],
    scenarios: [],
    totalSeconds: 0,
  };

  if (knobs.parts.has('floor')) results.floors.push(...(await runFloors(ctx, 'before')));
  if (knobs.parts.has('client')) await compareClientCpu(dynamo.endpoint, knobs.resultsDir, log);
  if (knobs.parts.has('lambda')) {
    await measureLambda(dynamo.endpoint, knobs.resultsDir, log, {
      coldStarts: knobs.lambdaColdStarts,
      warmInvokes: knobs.lambdaWarmInvokes,
    });
  }

  if (knobs.parts.has('scenarios') || knobs.parts.has('rss')) {
    const service = await startService(knobs, 'bench-leases', proxy.endpoint);
    log(`service pid ${service.pid} at ${service.url} (LOG_LEVEL=${knobs.logLevel}, store through the proxy)`);
    try {
      const rss: RssRecord[] = [];
      if (knobs.parts.has('rss')) rss.push(await measureRss(ctx, service, 'fresh: right after start-up'));
      if (knobs.parts.has('scenarios')) {
        results.scenarios = await runScenarios(ctx, service, async () => {
          if (knobs.parts.has('rss')) rss.push(await measureRss(ctx, service, 'after the c=32 scenarios (1 to 3)'));
        });
      }
      if (knobs.parts.has('rss') && knobs.parts.has('scenarios'))
        rss.push(await measureRss(ctx, service, `after the ${knobs.coldConnections}-connection cold-start burst (4)`));
      if (rss.length) results.rss = rss;
    } finally {
      await stopChild(service.child);
    }
    if (knobs.parts.has('floor') && knobs.parts.has('scenarios'))
      results.floors.push(...(await runFloors(ctx, 'after')));
  }

  if (knobs.parts.has('writecost')) {
    const table = 'bench-write-cost';
    const service = await startService(knobs, table, dynamo.endpoint);
    try {
      results.writeCost = await measureWriteCost(service.url, dynamo.endpoint, table);
      log(`write cost: ${JSON.stringify(results.writeCost.users)}`);
    } finally {
      await stopChild(service.child);
    }
  }

  if (knobs.parts.has('cpu')) {
    results.cpu = await measureCpu(ctx);
  }
  if (knobs.parts.has('profile')) results.profiles = await runProfiles(ctx);

  if (knobs.parts.has('growth')) results.growth = await runGrowth(ctx);

  await stopChild(proxy.child);
  await dynamo.stop();
  clearInterval(loadSampler);
  loadSamples.push(os.loadavg()[0]!);
  results.environment.uptimeAtEnd = uptime();
  results.environment.loadAverage1m = {
    min: round(Math.min(...loadSamples)),
    mean: round(loadSamples.reduce((sum, load) => sum + load, 0) / loadSamples.length),
    max: round(Math.max(...loadSamples)),
  };
  results.totalSeconds = Math.round((performance.now() - benchStarted) / 1000);

  results.targets = evaluateTargets(results);
  const markdown = renderMarkdown(results) + (results.writeCost ? `\n${renderWriteCost(results.writeCost)}` : '');
  const file = path.join(knobs.resultsDir, `${startedAt.toISOString().slice(0, 10)}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(path.join(knobs.resultsDir, 'latest.md'), markdown);
  writeFileSync(path.join(knobs.resultsDir, 'latency.svg'), renderSvg(results));
  process.stdout.write(`\n${markdown}\n`);
  log(
    `wrote ${path.relative(repoRoot, file)}, latest.md and latency.svg in ${path.relative(repoRoot, knobs.resultsDir)} (${results.totalSeconds} s in all)`,
  );
}

let interrupted = false;
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.once(signal, () => {
    interrupted = true;
    log(`${signal}: stopping every process the bench started`);
    void cleanup().finally(() => process.exit(code));
  });
}

main().then(
  () => process.exit(0),
  async (error: unknown) => {
    if (interrupted) return;
    process.stderr.write(`bench failed: ${(error as Error)?.stack ?? String(error)}\n`);
    await cleanup();
    process.exit(1);
  },
);
