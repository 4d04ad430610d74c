/* The built service as the bench runs it: its own process, on a table of its own, logging to a file. */
import { closeSync, openSync, readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Knobs } from './knobs';
import { scratchDir, serviceEntry } from './paths';
import { isRunning, processMemoryMb, sleep, spawnNode } from './processes';

export interface Service {
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
export async function startService(
  knobs: Pick<Knobs, 'logLevel' | 'serviceNodeFlags'>,
  table: string,
  storeEndpoint: string,
  nodeFlags: string[] = [],
): Promise<Service> {
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

export async function post(url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}
