/*
 * Which DynamoDB client sends the store's item reads and writes: CPU per call, measured in this
 * process with process.cpuUsage() (DynamoDB Local runs in its own), the clients in alternating
 * windows so that the drift of a noisy, shared 2-core host falls on all of them alike.
 *
 * - `hand-written`: the client the store used until the decision (DynamoWire with its own SigV4
 *   signer and retry, src/store at LEGACY_COMMIT), read from git so that the comparison stays
 *   repeatable without keeping that code in the tree;
 * - `sdk`: DynamoDBClient tuned as its maintainers recommend for hot paths (cacheMiddleware,
 *   128 keep-alive sockets), sending the same low-level AttributeValue requests, each call bounded by
 *   an abortSignal as the store's deadline requires;
 * - `sdk-no-deadline`: the same without the abortSignal: the SDK reuses its middleware stack only
 *   for calls given no options, so this is its best case, which the store cannot use;
 * - `smithy-wire`: src/store/dynamo-wire.ts, the thin transport with AWS's signer, retry strategy
 *   and error classification.
 *
 * The rule (issue 11): if the SDK comes within 150 µs of CPU per call of the hand-written client,
 * the store goes back to the SDK; otherwise it keeps the thin transport built from AWS's parts.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
  type GetItemCommandInput,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { DynamoServiceError, DynamoWire, type DynamoCaller } from '../../src/store/dynamo-wire';
import { createTable, dynamoCall, heartbeatUpdate, seededUser } from '../lib/dynamo-raw';
import { compiledBench, repoRoot } from '../lib/paths';

/** The last commit with the hand-written client (sigv4.ts, dynamo-wire.ts with its own retry). */
const LEGACY_COMMIT = 'bec0806ebc930deed9c6d0ea267f849465f74dc8';
/** Issue 11's threshold: within this much CPU per call of the hand-written client, the SDK wins. */
const SDK_THRESHOLD_US = 150;
const TABLE = 'bench-client-cpu';
const USERS = 200;
const REGION = 'us-east-1';
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

export interface ClientCpuRow {
  readonly client: string;
  readonly label: string;
  readonly calls: number;
  /** Total CPU of this process over the client's windows divided by its calls. */
  readonly cpuUsPerCall: number;
  /** The lowest and highest single window, to show the noise. */
  readonly windowRangeUs: readonly [number, number];
}

export interface ClientCpuResult {
  readonly rows: readonly ClientCpuRow[];
  readonly sdkOverHandWrittenUs: number;
  readonly decision: string;
  readonly markdown: string;
}

interface Candidate {
  readonly client: string;
  readonly label: string;
  readonly caller: DynamoCaller;
}

/** The hand-written client, compiled from git into the bench's cache. */
function handWritten(endpoint: string): DynamoCaller {
  // typescript is a dev dependency, like the bench itself; loaded here only.
  const ts = require('typescript') as typeof import('typescript');
  const dir = path.join(compiledBench, '.legacy-client', LEGACY_COMMIT.slice(0, 12));
  mkdirSync(dir, { recursive: true });
  for (const file of ['dynamo-wire', 'sigv4']) {
    const source = execFileSync('git', ['show', `${LEGACY_COMMIT}:src/store/${file}.ts`], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    });
    writeFileSync(path.join(dir, `${file}.js`), outputText);
  }
  const legacy = require(path.join(dir, 'dynamo-wire.js')) as { DynamoWire: new (options: object) => DynamoCaller };
  return new legacy.DynamoWire({
    endpoint: new URL(endpoint),
    region: REGION,
    credentials: async () => LOCAL_CREDENTIALS,
  });
}

/**
 * DynamoDBClient as the maintainers recommend for hot paths. Commands cannot be reused: each call has
 * its own input, and a command's input is read at several awaits of its middleware stack.
 */
function sdk(endpoint: string, deadline: boolean): DynamoCaller {
  const agent = { keepAlive: true, maxSockets: 128 };
  const client = new DynamoDBClient({
    region: REGION,
    endpoint,
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 3,
    cacheMiddleware: true,
    requestHandler: new NodeHttpHandler({ httpAgent: new http.Agent(agent), httpsAgent: new https.Agent(agent) }),
  });
  return {
    async call(operation, body, until) {
      const command =
        operation === 'GetItem'
          ? new GetItemCommand(body as GetItemCommandInput)
          : new UpdateItemCommand(body as UpdateItemCommandInput);
      const controller = deadline ? new AbortController() : undefined;
      const timer = controller && setTimeout(() => controller.abort(), Math.max(1, until - Date.now()));
      try {
        const answer = controller
          ? await client.send(command, { abortSignal: controller.signal })
          : await client.send(command);
        return answer as unknown as Record<string, unknown>;
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException)
          throw new DynamoServiceError(error.name, error.message, 400, { Item: error.Item });
        throw error;
      } finally {
        clearTimeout(timer);
      }
    },
    destroy: () => client.destroy(),
  };
}

function smithyWire(endpoint: string): DynamoCaller {
  return new DynamoWire({ endpoint: new URL(endpoint), region: REGION, credentials: async () => LOCAL_CREDENTIALS });
}

const envNumber = (name: string, fallback: number) => {
  const value = Number(process.env[name]);
  return process.env[name]?.trim() && Number.isFinite(value) && value > 0 ? value : fallback;
};

/** Sends heartbeat UpdateItems at `rate` per second for `seconds`; counts this process's CPU meanwhile. */
async function window(
  caller: DynamoCaller,
  rate: number,
  seconds: number,
): Promise<{ calls: number; failures: number; cpuUs: number }> {
  let calls = 0;
  let failures = 0;
  let owed = 0;
  const inFlight = new Set<Promise<void>>();
  const started = process.cpuUsage();
  const end = Date.now() + seconds * 1000;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      if (Date.now() >= end) {
        clearInterval(tick);
        resolve();
        return;
      }
      // Paced, not closed-loop: every client gets the same load, whatever its latency.
      for (owed += rate / 100; owed >= 1; owed--) {
        const now = Date.now();
        const sent = caller
          .call('UpdateItem', heartbeatUpdate(TABLE, `cpu-${calls++ % USERS}`, 's1', now), now + 1000)
          .then(
            () => undefined,
            () => void failures++,
          )
          .finally(() => inFlight.delete(sent));
        inFlight.add(sent);
      }
    }, 10);
  });
  await Promise.all(inFlight);
  const used = process.cpuUsage(started);
  return { calls, failures, cpuUs: used.user + used.system };
}

/**
 * Measures each client's CPU per call against DynamoDB Local at `endpoint` and decides by issue 11's
 * rule; prints the table and writes it to `resultsDir`/client-cpu.md. Knobs: BENCH_CLIENT_RATE (calls/s, 400), BENCH_CLIENT_WINDOW_S (8), BENCH_CLIENT_ROUNDS (6).
 */
export async function compareClientCpu(
  endpoint: string,
  resultsDir: string,
  log: (message: string) => void,
): Promise<ClientCpuResult> {
  const rate = envNumber('BENCH_CLIENT_RATE', 400);
  const windowS = envNumber('BENCH_CLIENT_WINDOW_S', 8);
  const rounds = envNumber('BENCH_CLIENT_ROUNDS', 6);
  await createTable(endpoint, TABLE);
  const now = Date.now();
  for (let first = 0; first < USERS; first += 25) {
    const items = Array.from({ length: 25 }, (_, index) => ({
      PutRequest: { Item: seededUser(`cpu-${first + index}`, now, 6 * 3600_000) },
    }));
    await dynamoCall(endpoint, 'BatchWriteItem', { RequestItems: { [TABLE]: items } });
  }

  const candidates: Candidate[] = [
    {
      client: 'hand-written',
      label: `the store's client until now (own SigV4 and retry; git ${LEGACY_COMMIT.slice(0, 7)})`,
      caller: handWritten(endpoint),
    },
    {
      client: 'sdk',
      label:
        'DynamoDBClient, cacheMiddleware, 128 keep-alive sockets, abortSignal per call (as the store would run it)',
      caller: sdk(endpoint, true),
    },
    {
      client: 'sdk-no-deadline',
      label: 'the same without abortSignal: cached middleware stack, no deadline (reference only)',
      caller: sdk(endpoint, false),
    },
    {
      client: 'smithy-wire',
      label: 'thin transport, @smithy/signature-v4 via AwsSdkSigV4Signer, StandardRetryStrategy',
      caller: smithyWire(endpoint),
    },
  ];
  const totals = new Map(candidates.map(({ client }) => [client, { calls: 0, cpuUs: 0, windows: [] as number[] }]));
  try {
    log(`client-cpu: warm-up, ${windowS} s per client at ${rate} calls/s`);
    for (const candidate of candidates) await window(candidate.caller, rate, windowS);
    log(
      `client-cpu: ${rounds} rounds of ${windowS} s per client, ${rate} heartbeat UpdateItems/s, clients in alternation`,
    );
    for (let round = 0; round < rounds; round++) {
      // Rotate the order each round, so no client always follows the same one (GC debt, JIT).
      for (let index = 0; index < candidates.length; index++) {
        const { client, caller } = candidates[(index + round) % candidates.length]!;
        const result = await window(caller, rate, windowS);
        if (result.failures > 0)
          throw new Error(`client-cpu ${client}: ${result.failures} of ${result.calls} calls failed`);
        const total = totals.get(client)!;
        total.calls += result.calls;
        total.cpuUs += result.cpuUs;
        total.windows.push(result.cpuUs / result.calls);
      }
      log(
        `client-cpu: round ${round + 1}/${rounds}: ${[...totals].map(([client, t]) => `${client} ${Math.round(t.windows.at(-1)!)} µs`).join(', ')}`,
      );
    }
  } finally {
    for (const { caller } of candidates) caller.destroy();
  }

  const rows: ClientCpuRow[] = candidates.map(({ client, label }) => {
    const total = totals.get(client)!;
    return {
      client,
      label,
      calls: total.calls,
      cpuUsPerCall: Math.round(total.cpuUs / total.calls),
      windowRangeUs: [Math.round(Math.min(...total.windows)), Math.round(Math.max(...total.windows))],
    };
  });
  const perCall = (client: string) => rows.find((row) => row.client === client)!.cpuUsPerCall;
  const sdkOverHandWrittenUs = perCall('sdk') - perCall('hand-written');
  const decision =
    sdkOverHandWrittenUs <= SDK_THRESHOLD_US
      ? `SDK: DynamoDBClient costs ${sdkOverHandWrittenUs} µs more per call than the hand-written client (≤ ${SDK_THRESHOLD_US})`
      : `thin transport with AWS's signer and retry: DynamoDBClient costs ${sdkOverHandWrittenUs} µs more per call than the hand-written client (> ${SDK_THRESHOLD_US})`;
  const markdown = [
    `### DynamoDB client: CPU per call (${rounds} alternating windows of ${windowS} s at ${rate} UpdateItem/s each)`,
    '',
    '| client | what | calls | µs CPU per call | window range µs |',
    '|---|---|---:|---:|---|',
    ...rows.map(
      (row) =>
        `| \`${row.client}\` | ${row.label} | ${row.calls} | **${row.cpuUsPerCall}** | ${row.windowRangeUs.join('–')} |`,
    ),
    '',
    `Decision: ${decision}.`,
    '',
  ].join('\n');
  writeFileSync(path.join(resultsDir, 'client-cpu.md'), markdown);
  process.stdout.write(`\n${markdown}\n`);
  return { rows, sdkOverHandWrittenUs, decision, markdown };
}
