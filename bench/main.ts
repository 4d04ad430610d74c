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
import { execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoWire } from '../src/store/dynamo-wire';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { startLocalDynamo, type LocalDynamo } from '../src/store/local-dynamo';
import { createTable, dynamoCall, dynamoHeaders, heartbeatUpdate, seedUsers, seededUser } from './lib/dynamo-raw';
import { dynamicPost, runLoad, type ConnectionRequest, type LoadOptions, type LoadResult } from './lib/load';
import { compiledBench, repoRoot, scratchDir, serviceEntry } from './lib/paths';
import {
  firstMessage,
  isRunning,
  killChildren,
  findJavaChild,
  processMemoryMb,
  round,
  rpc,
  sleep,
  spawnNode,
  startCpuMeter,
  stopChild,
} from './lib/processes';
import { summarizeProfile, type ProfileSummary } from './lib/profile';
import { evaluateTargets, renderMarkdown, renderSvg, type BenchResults } from './lib/report';
import { measureWriteCost, renderWriteCost, type WriteCostRecord } from './scenarios/write-cost';
import { Samples, distribution, summarize } from './lib/stats';
import { compareClientCpu } from './scenarios/client-cpu';
import { measureLambda } from './scenarios/lambda';
import type { CpuRecord, GrowthRecord, RssRecord, RunRecord, SeedRecord } from './lib/types';

function knob(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0)
    throw new Error(`${name} must be a number >= 0 (got ${JSON.stringify(raw)})`);
  return value;
}

const PARTS = ['floor', 'client', 'scenarios', 'rss', 'writecost', 'cpu', 'profile', 'growth', 'lambda'] as const;
/** The node flags `npm start` runs the service with (package.json), so the bench measures the service as shipped. */
function startNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: { start: string } };
  return pkg.scripts.start.split(/\s+/).filter((word) => word.startsWith('--'));
}

const knobs = {
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

const benchStarted = performance.now();
function log(message: string): void {
  const elapsed = ((performance.now() - benchStarted) / 1000).toFixed(0).padStart(4);
  process.stdout.write(`[bench ${elapsed}s] ${message}\n`);
}

// --- processes ----------------------------------------------------------------

interface Proxy {
  readonly endpoint: string;
  readonly child: ChildProcess;
  counts(): Promise<Record<string, number>>;
  reset(): Promise<void>;
}

async function startProxy(target: string): Promise<Proxy> {
  const child = spawnNode([path.join(compiledBench, 'proxy-child.js'), target]);
  const { endpoint } = await firstMessage<{ endpoint: string }>(
    child,
    (message) => (message as { ready?: boolean }).ready === true,
  );
  return {
    endpoint,
    child,
    counts: async () => (await rpc<{ counts: Record<string, number> }>(child, { cmd: 'counts' })).counts,
    reset: async () => {
      await rpc(child, { cmd: 'reset' });
    },
  };
}

interface Service {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly logFile: string;
  readonly env: Record<string, string>;
  /** performance.now() when the process was spawned. */
  readonly spawnedAt: number;
  readonly rssAtReadyMb: number;
}

/** The built service (dist/main.js) as its own process, its stdout and stderr (pino's JSON lines) going to a file. */
async function startService(table: string, storeEndpoint: string, nodeFlags: string[] = []): Promise<Service> {
  const env = {
    PORT: '0',
    HOST: '127.0.0.1',
    DYNAMODB_ENDPOINT: storeEndpoint,
    DYNAMODB_TABLE: table,
    LOG_LEVEL: knobs.logLevel,
    // Per-client rate limiting would answer 429 to a load generator on one address; it is not what is measured.
    RATE_LIMIT_PER_MINUTE: '0',
  };
  const logFile = path.join(scratchDir, `service-${table}.log`);
  const fd = openSync(logFile, 'w');
  const spawnedAt = performance.now();
  const child = spawnNode([...knobs.serviceNodeFlags, ...nodeFlags, serviceEntry], {
    env: { PATH: process.env.PATH ?? '', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
    stdio: ['ignore', fd, fd, 'ipc'],
  });
  closeSync(fd);
  const deadline = Date.now() + 60_000;
  let port: number | undefined;
  while (port === undefined) {
    const output = readFileSync(logFile, 'utf8');
    if (!isRunning(child)) throw new Error(`service exited before listening:\n${output.slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`service did not listen within 60 s:\n${output.slice(-2000)}`);
    const match = /"port":(\d+)[^\n]*listening on port/.exec(output);
    if (match) port = Number(match[1]);
    else await sleep(50);
  }
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    const status = await fetch(`${url}/readyz`).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) break;
    if (Date.now() > deadline) throw new Error(`service not ready within 60 s (last /readyz: ${status})`);
    await sleep(200);
  }
  return {
    url,
    port,
    child,
    pid: child.pid!,
    logFile,
    env,
    spawnedAt,
    rssAtReadyMb: processMemoryMb(child.pid!).rssMb,
  };
}

async function post(url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

// --- API load -----------------------------------------------------------------

/** API requests sent, per kind, as autocannon built them (a request is written right after it is built). */
const sent: Record<string, number> = { add: 0, heartbeat: 0, remove: 0 };

function apiRequest(
  kind: 'add' | 'heartbeat' | 'remove',
  body: Record<string, unknown>,
): { path: string; body: unknown } {
  sent[kind] = (sent[kind] ?? 0) + 1;
  return { path: `/streams/${kind}`, body };
}

function toRecord(name: string, label: string, result: LoadResult, extra: Partial<RunRecord> = {}): RunRecord {
  const non2xx: Record<string, number> = {};
  for (const [status, count] of Object.entries(result.statuses)) {
    if (Number(status) < 200 || Number(status) >= 300) non2xx[status] = count;
  }
  return {
    name,
    label,
    connections: result.connections,
    wallS: result.wallS,
    responses: result.responses,
    requestsPerSecond: result.requestsPerSecond,
    latencyMs: result.latencyMs,
    statuses: result.statuses,
    non2xx,
    errors: result.errors,
    distribution: distribution(result.samples),
    ...extra,
  };
}

/**
 * Waits until no DynamoDB request has passed the proxy for 300 ms: requests
 * that autocannon gave up waiting for when a run ended are still finishing in
 * the service, and must be counted with their own run, not the next one.
 */
async function settle(proxy: Proxy): Promise<void> {
  const total = async () => Object.values(await proxy.counts()).reduce((sum, count) => sum + count, 0);
  let last = await total();
  for (let polls = 0; polls < 100; polls++) {
    await sleep(300);
    const now = await total();
    if (now === last) return;
    last = now;
  }
  throw new Error('DynamoDB traffic did not stop within 30 s of the end of a run');
}

/**
 * One measured run against the service: resets the proxy's counts first, and
 * reads them (and the service's CPU time) once the requests still in flight
 * when autocannon stopped have finished.
 */
async function serviceRun(
  service: Pick<Service, 'url' | 'pid'>,
  proxy: Proxy,
  name: string,
  label: string,
  load: Omit<LoadOptions, 'url' | 'title'>,
  extra: Partial<RunRecord> = {},
): Promise<RunRecord> {
  log(`${name}: ${label}`);
  await settle(proxy);
  await proxy.reset();
  const before = { ...sent };
  const meter = startCpuMeter({ proxy: proxy.child.pid, service: service.pid, 'DynamoDB Local': javaPid });
  const result = await runLoad({ ...load, title: name, url: service.url });
  await settle(proxy);
  const byOperation = await proxy.counts();
  const apiRequests: Record<string, number> = {};
  for (const kind of Object.keys(sent)) {
    const count = (sent[kind] ?? 0) - (before[kind] ?? 0);
    if (count > 0) apiRequests[kind] = count;
  }
  const total = Object.values(byOperation).reduce((sum, count) => sum + count, 0);
  const apiTotal = Object.values(apiRequests).reduce((sum, count) => sum + count, 0);
  const cpuUsPerRequest = meter.stop(apiTotal);
  const per: Record<string, number> = { 'API request': round(total / apiTotal, 4) };
  const kinds = Object.keys(apiRequests);
  if (kinds.length === 1) {
    per[kinds[0]!] = round(total / apiTotal, 4);
    for (const [operation, count] of Object.entries(byOperation))
      per[`${operation} per ${kinds[0]}`] = round(count / apiTotal, 4);
  } else if (kinds.length === 2 && apiRequests.add && apiRequests.remove) {
    per['add+remove pair'] = round((2 * total) / apiTotal, 4);
    for (const [operation, count] of Object.entries(byOperation))
      per[`${operation} per pair`] = round((2 * count) / apiTotal, 4);
  }
  const record = toRecord(name, label, result, {
    apiRequests,
    dynamo: { byOperation, total, per },
    cpuUsPerRequest,
    ...extra,
  });
  const { p50, p99, p999 } = record.latencyMs;
  log(
    `  ${record.responses} answers, ${record.requestsPerSecond} req/s, p50 ${p50} p99 ${p99} p99.9 ${p999} ms, ` +
      `statuses ${JSON.stringify(record.statuses)}, errors ${JSON.stringify(record.errors)}, DynamoDB ${JSON.stringify(byOperation)} ` +
      `for ${JSON.stringify(apiRequests)}`,
  );
  return record;
}

/** Add then remove of the same fresh stream, per connection, over `users` users in turn (a user is never in two pairs at once). */
function addRemoveCycle(prefix: string, users: number): ConnectionRequest {
  let cursor = 0;
  let stream = 0;
  return dynamicPost((state) => {
    const pending = state.pending as Record<string, unknown> | undefined;
    if (pending) {
      state.pending = undefined;
      return apiRequest('remove', pending);
    }
    const body = { userId: `${prefix}-${cursor++ % users}`, streamId: `c${stream++}` };
    state.pending = body;
    return apiRequest('add', body);
  });
}

async function runScenarios(service: Service, proxy: Proxy, rss: RssRecord[]): Promise<RunRecord[]> {
  const conns = knobs.connections;
  const users = knobs.users;
  const records: RunRecord[] = [];
  /** The raw UpdateItem through the proxy, measured just before a run: on a shared machine, its fairest floor. */
  const pairedFloor = async (): Promise<NonNullable<RunRecord['pairedFloor']>> => {
    const floor = await runLoad({
      title: 'paired floor',
      url: proxy.endpoint,
      connections: conns,
      durationS: knobs.pairedFloorS,
      requests: [floorRequest()],
    });
    const { p50, p99, p999 } = floor.latencyMs;
    log(
      `  paired floor (raw UpdateItem via proxy, ${knobs.pairedFloorS} s): p50 ${p50} p99 ${p99} ms, ${floor.requestsPerSecond} req/s`,
    );
    return { p50, p99, p999, requestsPerSecond: floor.requestsPerSecond, durationS: knobs.pairedFloorS };
  };

  log(`warm-up: ${knobs.serviceWarmupS} s of add+remove cycles on other users (not measured)`);
  await runLoad({
    title: 'warm-up',
    url: service.url,
    connections: conns,
    durationS: knobs.serviceWarmupS,
    requests: [addRemoveCycle('warm', users)],
  });

  records.push(
    await serviceRun(
      service,
      proxy,
      '1-add-remove',
      `add+remove cycles, ${users} users, fresh streamId per pair`,
      { connections: conns, durationS: knobs.durationS, requests: [addRemoveCycle('cy', users)] },
      { pairedFloor: await pairedFloor() },
    ),
  );

  let admitted = 0;
  records.push(
    await serviceRun(
      service,
      proxy,
      '2a-admit',
      `pre-admit 1 stream for each of ${users} new users (add only)`,
      {
        connections: conns,
        amount: users,
        requests: [dynamicPost(() => apiRequest('add', { userId: `hb-${admitted++}`, streamId: 'p1' }))],
      },
      { pairedFloor: await pairedFloor() },
    ),
  );
  let beat = 0;
  /** Heartbeats on the streams 2a admitted, the users in turn (shared by the runs that follow, so they keep going round). */
  const roundRobinHeartbeats = () =>
    dynamicPost(() => apiRequest('heartbeat', { userId: `hb-${beat++ % users}`, streamId: 'p1' }));
  records.push(
    await serviceRun(
      service,
      proxy,
      '2-heartbeat',
      `heartbeats on the ${users} live streams, round robin`,
      {
        connections: conns,
        durationS: knobs.durationS,
        requests: [roundRobinHeartbeats()],
      },
      { pairedFloor: await pairedFloor() },
    ),
  );
  // The same heartbeats through the least a service can be (see cpu-server.ts, forwarder): the floor for any process there.
  const forwarder = await startCpuServer('forwarder', path.join(scratchDir, 'forwarder.log'), knobs.serviceNodeFlags, {
    FORWARD_DYNAMODB_ENDPOINT: proxy.endpoint,
    FORWARD_TABLE: service.env.DYNAMODB_TABLE ?? 'bench-leases',
  });
  try {
    records.push(
      await serviceRun(
        { url: forwarder.url, pid: forwarder.child.pid! },
        proxy,
        'ref-forwarder',
        'not the service: the same heartbeats through a bare node:http handler that sends their UpdateItem with DynamoWire and answers JSON',
        {
          connections: conns,
          durationS: knobs.durationS,
          requests: [roundRobinHeartbeats()],
        },
        { pairedFloor: await pairedFloor() },
      ),
    );
  } finally {
    await stopChild(forwarder.child);
  }
  // The same heartbeats at low concurrency: per-request latency when the run itself does not saturate the 2 cores.
  // (autocannon's overallRate is not used for this: it releases each connection's quota in a burst every second.)
  const lowConns = knobs.lowConnections;
  const lowFloor = await runLoad({
    title: 'low floor',
    url: proxy.endpoint,
    connections: lowConns,
    durationS: knobs.pairedFloorS,
    requests: [floorRequest()],
  });
  log(
    `  floor at c=${lowConns} (raw UpdateItem via proxy): p50 ${lowFloor.latencyMs.p50} p99 ${lowFloor.latencyMs.p99} ms`,
  );
  records.push(
    await serviceRun(
      service,
      proxy,
      `2l-heartbeat-c${lowConns}`,
      `the same heartbeats at concurrency ${lowConns}`,
      {
        connections: lowConns,
        durationS: knobs.lowS,
        requests: [roundRobinHeartbeats()],
      },
      {
        pairedFloor: {
          p50: lowFloor.latencyMs.p50,
          p99: lowFloor.latencyMs.p99,
          p999: lowFloor.latencyMs.p999,
          requestsPerSecond: lowFloor.requestsPerSecond,
          durationS: knobs.pairedFloorS,
        },
      },
    ),
  );

  let released = 0;
  records.push(
    await serviceRun(
      service,
      proxy,
      '2b-remove',
      `remove each of the ${users} live streams once`,
      {
        connections: conns,
        amount: users,
        requests: [dynamicPost(() => apiRequest('remove', { userId: `hb-${released++}`, streamId: 'p1' }))],
      },
      { pairedFloor: await pairedFloor() },
    ),
  );

  const hot = knobs.contentionUsers;
  const floorBeforeContention = await pairedFloor();
  for (let user = 0; user < hot; user++) {
    for (let stream = 0; stream < 3; stream++) {
      const answer = await post(`${service.url}/streams/add`, { userId: `ct-${user}`, streamId: `pre-${stream}` });
      if (answer.status !== 201)
        throw new Error(`contention setup: add answered ${answer.status} ${JSON.stringify(answer.body)}`);
    }
  }
  let contended = 0;
  const contention = await serviceRun(
    service,
    proxy,
    '3-contention',
    `adds of fresh streams for ${hot} users already at the limit (3), ${conns} connections`,
    {
      connections: conns,
      durationS: knobs.durationS,
      requests: [
        dynamicPost(() => apiRequest('add', { userId: `ct-${contended % hot}`, streamId: `x${contended++}` })),
      ],
    },
    { pairedFloor: floorBeforeContention },
  );
  let maxActive = 0;
  for (let user = 0; user < hot; user++) {
    const listing = (await (await fetch(`${service.url}/users/ct-${user}/streams`)).json()) as {
      activeStreams: number;
    };
    maxActive = Math.max(maxActive, listing.activeStreams);
  }
  records.push({
    ...contention,
    note: `409 STREAM_LIMIT_REACHED is the expected answer here, not an error; afterwards the most live streams any of these users held: ${maxActive} (limit 3)`,
  });

  if (knobs.parts.has('rss')) rss.push(await measureRss(service, 'after the c=32 scenarios (1 to 3)'));

  let cold = 0;
  const coldConnections = Math.min(knobs.coldConnections, knobs.coldUsers);
  records.push(
    await serviceRun(
      service,
      proxy,
      '4-cold-start',
      `${knobs.coldUsers} new users press play at once: 1 add each, ${coldConnections} connections`,
      {
        connections: coldConnections,
        amount: knobs.coldUsers,
        timeoutS: 30,
        requests: [dynamicPost(() => apiRequest('add', { userId: `cold-${cold++}`, streamId: 's1' }))],
      },
    ),
  );
  return records;
}

// --- the floor: raw UpdateItem ------------------------------------------------

const FLOOR_TABLE = 'bench-floor';

/** A raw UpdateItem per request, straight over HTTP, on an item of the connection's own (`<prefix>-<n>`). */
function perConnectionUpdate(prefix: string, bodyFor: (key: string) => Record<string, unknown>): ConnectionRequest {
  let workers = 0;
  return {
    method: 'POST',
    path: '/',
    headers: dynamoHeaders('UpdateItem'),
    state: {},
    setupRequest: (request) => {
      const state = (request as ConnectionRequest).state;
      state.key ??= `${prefix}-${workers++}`;
      return { ...request, body: JSON.stringify(bodyFor(state.key as string)) };
    },
  };
}

/** UpdateItem `SET c = :n` on the connection's own item, ALL_NEW returned, straight over HTTP. */
function floorRequest(): ConnectionRequest {
  let sequence = 0;
  return perConnectionUpdate('worker', (key) => ({
    TableName: FLOOR_TABLE,
    Key: { userId: { S: key } },
    UpdateExpression: 'SET #c = :c',
    ExpressionAttributeNames: { '#c': 'c' },
    ExpressionAttributeValues: { ':c': { N: String(++sequence) } },
    ReturnValues: 'ALL_NEW',
  }));
}

/** The service's own heartbeat write (same expression, condition and return values as LeaseStore.renewLease), on the connection's own item. */
function heartbeatShapedRequest(): ConnectionRequest {
  return perConnectionUpdate('shaped', (key) => heartbeatUpdate(FLOOR_TABLE, key, 's1', Date.now()));
}

/** The same UpdateItem as floorRequest, sent in-process by a client library: `send` does one call, `close` frees the client. */
interface FloorClient {
  send(worker: number, sequence: number): Promise<unknown>;
  close(): void;
}

const plainUpdate = (prefix: string, worker: number, sequence: number) => ({
  TableName: FLOOR_TABLE,
  Key: { userId: { S: `${prefix}-${worker}` } },
  UpdateExpression: 'SET #c = :c',
  ExpressionAttributeNames: { '#c': 'c' },
  ExpressionAttributeValues: { ':c': { N: String(sequence) } },
  ReturnValues: 'ALL_NEW' as const,
});

/** The AWS SDK v3 client, configured as the service configured it before it sent its item writes itself. */
function sdkFloorClient(endpoint: string): FloorClient {
  const agent = { keepAlive: true, maxSockets: 512 };
  const client = new DynamoDBClient({
    region: 'us-east-1',
    endpoint,
    maxAttempts: 3,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    requestHandler: new NodeHttpHandler({
      connectionTimeout: 1000,
      requestTimeout: 1000,
      httpAgent: new http.Agent(agent),
    }),
  });
  return {
    send: (worker, sequence) => client.send(new UpdateItemCommand(plainUpdate('sdk', worker, sequence))),
    close: () => client.destroy(),
  };
}

/** DynamoWire, the client the service sends its item reads and writes with (src/store/dynamo-wire.ts). */
function wireFloorClient(endpoint: string): FloorClient {
  const wire = new DynamoWire({
    endpoint: new URL(endpoint),
    region: 'us-east-1',
    credentials: async () => ({ accessKeyId: 'local', secretAccessKey: 'local' }),
  });
  return {
    send: (worker, sequence) => wire.call('UpdateItem', plainUpdate('wire', worker, sequence), Date.now() + 1000),
    close: () => wire.destroy(),
  };
}

async function clientFloor(client: FloorClient, connections: number, durationS: number): Promise<LoadResult> {
  const samples = new Samples();
  let failures = 0;
  const started = performance.now();
  const end = started + durationS * 1000;
  await Promise.all(
    Array.from({ length: connections }, async (_, worker) => {
      for (let sequence = 0; performance.now() < end; sequence++) {
        const begun = performance.now();
        try {
          await client.send(worker, sequence);
          samples.add(performance.now() - begun);
        } catch {
          failures++;
        }
      }
    }),
  );
  client.close();
  const wallS = (performance.now() - started) / 1000;
  return {
    title: 'client',
    connections,
    wallS: round(wallS, 3),
    responses: samples.count,
    requestsPerSecond: Math.round(samples.count / wallS),
    latencyMs: summarize(samples),
    statuses: { 200: samples.count },
    errors: { status5xx: 0, connectionErrors: failures, timeouts: 0 },
    samples,
  };
}

async function prepareFloorTable(endpoint: string): Promise<void> {
  await createTable(endpoint, FLOOR_TABLE);
  const now = Date.now();
  const items = Array.from({ length: knobs.connections * 2 }, (_, worker) => ({
    PutRequest: { Item: seededUser(`shaped-${worker}`, now, 6 * 3600_000) },
  }));
  for (let start = 0; start < items.length; start += 25) {
    await dynamoCall(endpoint, 'BatchWriteItem', { RequestItems: { [FLOOR_TABLE]: items.slice(start, start + 25) } });
  }
}

async function runFloors(direct: string, proxy: Proxy, phase: 'before' | 'after'): Promise<RunRecord[]> {
  const conns = knobs.connections;
  const durationS = knobs.floorDurationS;
  const records: RunRecord[] = [];
  const raw = async (name: string, label: string, url: string, request: ConnectionRequest) => {
    log(`${name}: ${label}`);
    await proxy.reset();
    const meter = startCpuMeter({ ...(url !== direct && { proxy: proxy.child.pid }), 'DynamoDB Local': javaPid });
    const result = await runLoad({ title: name, url, connections: conns, durationS, requests: [request] });
    const cpuUsPerRequest = meter.stop(result.responses);
    const byOperation = await proxy.counts();
    const record = toRecord(name, label, result, {
      cpuUsPerRequest,
      ...(url !== direct && {
        dynamo: { byOperation, total: Object.values(byOperation).reduce((sum, count) => sum + count, 0), per: {} },
      }),
    });
    log(
      `  ${record.requestsPerSecond} req/s, p50 ${record.latencyMs.p50} p99 ${record.latencyMs.p99} ms, statuses ${JSON.stringify(record.statuses)}`,
    );
    records.push(record);
  };
  if (phase === 'before') {
    // DynamoDB Local's JVM needs tens of seconds of traffic before its JIT settles (CPU per UpdateItem falls several-fold).
    log(`warm-up: ${knobs.dynamoWarmupS} s of raw UpdateItems, plain and heartbeat-shaped (not measured)`);
    const half = knobs.dynamoWarmupS / 2;
    await runLoad({ title: 'warm-up', url: direct, connections: conns, durationS: half, requests: [floorRequest()] });
    await runLoad({
      title: 'warm-up',
      url: proxy.endpoint,
      connections: conns,
      durationS: half,
      requests: [heartbeatShapedRequest()],
    });
  }
  await raw(
    `floor-direct-${phase}`,
    'raw UpdateItem SET on a per-connection item, straight to DynamoDB Local',
    direct,
    floorRequest(),
  );
  await raw(
    `floor-proxy-${phase}`,
    'the same, through the counting proxy (the path the service uses)',
    proxy.endpoint,
    floorRequest(),
  );
  if (phase === 'before') {
    await raw(
      'floor-shaped-proxy',
      "the service's own heartbeat UpdateItem (condition, ALL_NEW), raw, through the proxy",
      proxy.endpoint,
      heartbeatShapedRequest(),
    );
  }
  const viaClient = async (name: string, label: string, client: FloorClient) => {
    log(`${name}: ${label}`);
    const meter = startCpuMeter({ proxy: proxy.child.pid, 'DynamoDB Local': javaPid });
    const result = await clientFloor(client, conns, durationS);
    const cpuUsPerRequest = meter.stop(result.responses);
    records.push(
      toRecord(name, label, result, {
        cpuUsPerRequest,
        note: 'here the load generator is the client named, so its CPU per request is that client’s',
      }),
    );
    log(
      `  ${result.requestsPerSecond} req/s, p50 ${result.latencyMs.p50} p99 ${result.latencyMs.p99} ms, client CPU ${cpuUsPerRequest['load generator']} µs per call`,
    );
  };
  await viaClient(
    `floor-wire-proxy-${phase}`,
    'the plain UpdateItem sent by DynamoWire, the service’s own DynamoDB client (signed JSON over keep-alive), through the proxy',
    wireFloorClient(proxy.endpoint),
  );
  await viaClient(
    `floor-sdk-proxy-${phase}`,
    'the plain UpdateItem sent by the AWS SDK v3 client (DynamoDBClient, as the service configured it before DynamoWire), through the proxy',
    sdkFloorClient(proxy.endpoint),
  );
  return records;
}

// --- memory with idle connections ----------------------------------------------

function openIdleConnection(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => reject(new Error('idle connection: no answer in 10 s')), 10_000);
    socket.once('error', reject);
    socket.once('connect', () =>
      socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n'),
    );
    socket.once('data', () => {
      clearTimeout(timer);
      resolve(socket);
    });
  });
}

async function measureRss(service: Service, when: string): Promise<RssRecord> {
  const before = processMemoryMb(service.pid);
  const sockets: net.Socket[] = [];
  try {
    for (let opened = 0; opened < knobs.idleConnections; opened += 100) {
      const batch = Math.min(100, knobs.idleConnections - opened);
      sockets.push(...(await Promise.all(Array.from({ length: batch }, () => openIdleConnection(service.port)))));
    }
    await sleep(2000);
    const during = processMemoryMb(service.pid);
    log(
      `rss ${when}: ${before.rssMb} MB, ${during.rssMb} MB with ${sockets.length} idle keep-alive connections; peak so far ${during.peakRssMb} MB`,
    );
    return {
      when,
      connections: sockets.length,
      rssBeforeMb: before.rssMb,
      rssWithConnectionsMb: during.rssMb,
      peakRssMb: during.peakRssMb,
    };
  } finally {
    for (const socket of sockets) socket.destroy();
    await sleep(500);
  }
}

// --- CPU per request, store stubbed ---------------------------------------------

const CPU_SERVERS = {
  bare: 'bare node:http JSON handler (parse body, answer JSON)',
  express:
    'Express 5 with one route, express.json() and res.json() of the same answer: the framework alone, for reference',
  service:
    'createApp + LeaseStore, its DynamoDB caller stubbed in-process (answers DynamoDB JSON), request log on: pino JSON lines to a file',
  'service-silent': 'the same with LOG_LEVEL=silent (no request log), for comparison',
} as const;

function heartbeatLoad(): ConnectionRequest {
  let beat = 0;
  return dynamicPost(() => ({ path: '/streams/heartbeat', body: { userId: `u-${beat++ % 1000}`, streamId: 's1' } }));
}

async function startCpuServer(
  mode: keyof typeof CPU_SERVERS | 'forwarder',
  logFile: string,
  nodeFlags: string[] = [],
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; url: string; stubCallUs: number }> {
  const fd = openSync(logFile, 'w');
  const child = spawnNode([...nodeFlags, path.join(compiledBench, 'cpu-server.js'), mode], {
    env: { PATH: process.env.PATH ?? '', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
    stdio: ['ignore', fd, 'inherit', 'ipc'],
  });
  closeSync(fd);
  const { port, stubCallUs } = await firstMessage<{ port: number; stubCallUs: number }>(
    child,
    (message) => (message as { ready?: boolean }).ready === true,
  );
  return { child, url: `http://127.0.0.1:${port}`, stubCallUs };
}

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
async function measureCpu(): Promise<CpuRecord[]> {
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

function freshDir(name: string): string {
  const dir = path.join(scratchDir, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

function logProfile(summary: ProfileSummary): void {
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
async function runProfiles(proxy: Proxy): Promise<ProfileSummary[]> {
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
  logProfile(summaries[0]!);

  const realDir = freshDir('profile-service');
  const service = await startService('bench-profile', proxy.endpoint, ['--cpu-prof', `--cpu-prof-dir=${realDir}`]);
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
  logProfile(summaries[1]!);
  return summaries;
}

// --- growth: 1,000 users vs 1,000,000 --------------------------------------------

const growthUser = (index: number) => `g-${String(index).padStart(7, '0')}`;
const GROWTH_ROUNDS = 2;

async function seed(endpoint: string, table: string, to: number, now: number): Promise<SeedRecord> {
  log(
    `growth: seeding ${to} users into ${table} (BatchWriteItem, 25 per call, ${knobs.seedWriters} writers; stops after BENCH_SEED_MAX_S=${knobs.seedMaxS} s)`,
  );
  const started = performance.now();
  const deadline = started + knobs.seedMaxS * 1000;
  let lastReport = started;
  const reached = await seedUsers({
    endpoint,
    table,
    from: 0,
    to,
    writers: knobs.seedWriters,
    userId: growthUser,
    now,
    // Long enough to stay live through seeding and measuring; the shape is the service's.
    leaseMs: 6 * 3600_000,
    shouldStop: () => performance.now() > deadline,
    onProgress: (written) => {
      const clock = performance.now();
      if (clock - lastReport < 10_000 && written < to) return;
      lastReport = clock;
      const rate = written / ((clock - started) / 1000);
      log(
        `  seeded ${written}/${to} users (${Math.round(rate)} items/s, ~${Math.round((to - written) / rate)} s to go)`,
      );
    },
  });
  const seconds = (performance.now() - started) / 1000;
  if (reached < to) log(`growth: seeding stopped at ${reached} users after ${Math.round(seconds)} s`);
  return {
    table,
    users: reached,
    seconds: round(seconds, 1),
    itemsPerSecond: Math.round(reached / seconds),
    stoppedEarly: reached < to,
  };
}

interface GrowthTable {
  readonly service: Service;
  readonly users: number;
  /** A random seeded user for a heartbeat; see heartbeatPicker. */
  readonly heartbeatUser: () => number;
  /** Users to add a stream to, in order: each at most twice (a seeded user holds 1 of 3 streams). */
  readonly addOrder: number[];
}

/**
 * Random seeded users, each picked once while unpicked ones are easy to find:
 * a lease renewed by one heartbeat lapses 90 s later, so on the big table a
 * user drawn again minutes later would rightly answer 404. On the small table
 * every user is drawn again within seconds, so repeats are fine there.
 */
function heartbeatPicker(users: number): () => number {
  const picked = new Set<number>();
  return () => {
    for (let attempt = 0; attempt < 20 && picked.size < users; attempt++) {
      const index = Math.floor(Math.random() * users);
      if (!picked.has(index)) {
        picked.add(index);
        return index;
      }
    }
    return Math.floor(Math.random() * users);
  };
}

function addOrder(users: number, adds: number): number[] {
  if (users < adds) return Array.from({ length: Math.min(adds, 2 * users) }, (_, index) => index % users);
  const picked = new Set<number>();
  const order: number[] = [];
  while (order.length < adds) {
    const index = Math.floor(Math.random() * users);
    if (!picked.has(index)) {
      picked.add(index);
      order.push(index);
    }
  }
  return order;
}

async function growthRound(table: GrowthTable, proxy: Proxy, round: number): Promise<GrowthRecord> {
  const conns = knobs.connections;
  const tag = `growth-${table.users}-r${round}`;
  const heartbeat = await serviceRun(
    service(table),
    proxy,
    `${tag}-heartbeat`,
    `heartbeats on random users of ${table.users} in the table`,
    {
      connections: conns,
      amount: knobs.growthHeartbeats,
      requests: [
        dynamicPost(() => apiRequest('heartbeat', { userId: growthUser(table.heartbeatUser()), streamId: 's1' })),
      ],
    },
  );
  const perRound = Math.floor(table.addOrder.length / GROWTH_ROUNDS);
  const users = table.addOrder.slice((round - 1) * perRound, round * perRound);
  let next = 0;
  const add = await serviceRun(
    service(table),
    proxy,
    `${tag}-add`,
    `adds of a 2nd/3rd stream for users of ${table.users} in the table`,
    {
      connections: conns,
      amount: users.length,
      requests: [
        dynamicPost(() =>
          apiRequest('add', { userId: growthUser(users[next % users.length]!), streamId: `a${round}-${next++}` }),
        ),
      ],
    },
  );
  return { usersInTable: table.users, round, heartbeat, add };
}

const service = (table: GrowthTable) => table.service;

/**
 * Two tables, few and many users, each with its own service process (the
 * same build and settings). Both are warmed, then measured in alternation,
 * round after round, so that drift on this shared machine (and JIT warm-up)
 * does not favour whichever size would be measured first.
 */
async function runGrowth(
  dynamoEndpoint: string,
  proxy: Proxy,
): Promise<{ records: GrowthRecord[]; seeding: SeedRecord[] }> {
  const small = Math.min(knobs.growthSmallUsers, knobs.growthUsers);
  const smallService = await startService('bench-growth-small', proxy.endpoint);
  const largeService = await startService('bench-growth-large', proxy.endpoint);
  try {
    const now = Date.now();
    const seeding = [
      await seed(dynamoEndpoint, 'bench-growth-small', small, now),
      await seed(dynamoEndpoint, 'bench-growth-large', knobs.growthUsers, now),
    ];
    const tables: GrowthTable[] = [
      {
        service: smallService,
        users: seeding[0]!.users,
        heartbeatUser: heartbeatPicker(seeding[0]!.users),
        addOrder: addOrder(seeding[0]!.users, knobs.growthAdds),
      },
      {
        service: largeService,
        users: seeding[1]!.users,
        heartbeatUser: heartbeatPicker(seeding[1]!.users),
        addOrder: addOrder(seeding[1]!.users, knobs.growthAdds),
      },
    ];
    for (const table of tables) {
      log(`growth: warm-up ${knobs.serviceWarmupS} s of heartbeats on ${table.users} seeded users (not measured)`);
      await runLoad({
        title: 'warm-up',
        url: table.service.url,
        connections: knobs.connections,
        durationS: knobs.serviceWarmupS,
        requests: [
          dynamicPost(() => ({
            path: '/streams/heartbeat',
            body: { userId: growthUser(table.heartbeatUser()), streamId: 's1' },
          })),
        ],
      });
    }
    const records: GrowthRecord[] = [];
    for (let round = 1; round <= GROWTH_ROUNDS; round++) {
      for (const table of tables) records.push(await growthRound(table, proxy, round));
    }
    return { records, seeding };
  } finally {
    await Promise.all([stopChild(smallService.child), stopChild(largeService.child)]);
  }
}

// --- the run ------------------------------------------------------------------

function uptime(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return `load average: ${os
      .loadavg()
      .map((load) => load.toFixed(2))
      .join(', ')}`;
  }
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

let dynamo: LocalDynamo | undefined;
/** DynamoDB Local's JVM, for CPU accounting. */
let javaPid: number | undefined;

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
  javaPid = findJavaChild(dynamo.pid);
  log(`DynamoDB Local at ${dynamo.endpoint} (in memory, JVM pid ${javaPid ?? 'not found'})`);
  const proxy = await startProxy(dynamo.endpoint);
  log(`counting proxy at ${proxy.endpoint}`);
  await prepareFloorTable(dynamo.endpoint);

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

  if (knobs.parts.has('floor')) results.floors.push(...(await runFloors(dynamo.endpoint, proxy, 'before')));
  if (knobs.parts.has('client')) await compareClientCpu(dynamo.endpoint, knobs.resultsDir, log);
  if (knobs.parts.has('lambda')) {
    await measureLambda(dynamo.endpoint, knobs.resultsDir, log, {
      coldStarts: knobs.lambdaColdStarts,
      warmInvokes: knobs.lambdaWarmInvokes,
    });
  }

  if (knobs.parts.has('scenarios') || knobs.parts.has('rss')) {
    const service = await startService('bench-leases', proxy.endpoint);
    log(`service pid ${service.pid} at ${service.url} (LOG_LEVEL=${knobs.logLevel}, store through the proxy)`);
    try {
      const rss: RssRecord[] = [];
      if (knobs.parts.has('rss')) rss.push(await measureRss(service, 'fresh: right after start-up'));
      if (knobs.parts.has('scenarios')) results.scenarios = await runScenarios(service, proxy, rss);
      if (knobs.parts.has('rss') && knobs.parts.has('scenarios'))
        rss.push(await measureRss(service, `after the ${knobs.coldConnections}-connection cold-start burst (4)`));
      if (rss.length) results.rss = rss;
    } finally {
      await stopChild(service.child);
    }
    if (knobs.parts.has('floor') && knobs.parts.has('scenarios'))
      results.floors.push(...(await runFloors(dynamo.endpoint, proxy, 'after')));
  }

  if (knobs.parts.has('writecost')) {
    const table = 'bench-write-cost';
    const service = await startService(table, dynamo.endpoint);
    try {
      results.writeCost = await measureWriteCost(service.url, dynamo.endpoint, table);
      log(`write cost: ${JSON.stringify(results.writeCost.users)}`);
    } finally {
      await stopChild(service.child);
    }
  }

  if (knobs.parts.has('cpu')) {
    results.cpu = await measureCpu();
  }
  if (knobs.parts.has('profile')) results.profiles = await runProfiles(proxy);

  if (knobs.parts.has('growth')) results.growth = await runGrowth(dynamo.endpoint, proxy);

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
