/*
 * The real service (dist/main.js) as a child process on a DynamoDB Local, the way bench/main.ts
 * runs it, with the lease settings of one run. Nothing here imports from test/.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { findFreePort, startLocalDynamo, type LocalDynamo } from '../../src/store/local-dynamo';
import { compiledBench, serviceEntry } from '../lib/paths';
import { processCpuMs, sleep, stopChild } from '../lib/processes';

export interface RunningService {
  readonly url: string;
  readonly pid: number;
  /** User+system CPU of the service process so far, in ms (10 ms resolution). */
  cpuMs(): number;
  /** Output of the process, for an error message. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts dist/main.js with `env` on its own table. The request log is off (LOG_LEVEL=warn): the
 * model needs counts, not lines, and the machine's CPU is better left to the players.
 */
export async function startService(options: {
  dynamoEndpoint: string;
  table: string;
  env: Record<string, string>;
  nodeFlags?: string[];
}): Promise<RunningService> {
  if (!existsSync(serviceEntry)) throw new Error(`${serviceEntry} is missing: run npm run build`);
  const port = await findFreePort();
  // Compiled runs preload the bench's guard, so the service dies with this process however it ends.
  const preload = path.join(compiledBench, 'lib', 'exit-with-parent.js');
  const guarded = existsSync(preload);
  const child = spawn(
    process.execPath,
    [...(guarded ? ['-r', preload] : []), ...(options.nodeFlags ?? []), serviceEntry],
    {
      env: {
        PATH: process.env.PATH ?? '',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        PORT: String(port),
        HOST: '127.0.0.1',
        DYNAMODB_ENDPOINT: options.dynamoEndpoint,
        DYNAMODB_TABLE: options.table,
        LOG_LEVEL: 'warn',
        RATE_LIMIT_PER_MINUTE: '0',
        // The model measures write cost, not latency: on a busy shared machine a 1 s store timeout
        // turns slow writes into 503s whose units nobody reports. Callers may still override it.
        DYNAMODB_TIMEOUT_MS: '5000',
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe', ...(guarded ? (['ipc'] as const) : [])],
    },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
  child.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`service exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output}`);
    }
    const status = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) }).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) break;
    if (Date.now() > deadline) {
      await stopChild(child);
      throw new Error(`service not ready within 60 s (last /readyz ${status}):\n${output}`);
    }
    await sleep(100);
  }
  return {
    url,
    pid: child.pid!,
    cpuMs: () => processCpuMs(child.pid!),
    output: () => output,
    stop: () => stopChild(child),
  };
}

/** A DynamoDB Local of one run's own (in memory), so one run's table never slows the next. */
export function startDynamo(): Promise<LocalDynamo> {
  return startLocalDynamo();
}
