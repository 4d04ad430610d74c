/* The stub servers of bench/cpu-server.ts, each in its own process. */
import { closeSync, openSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { dynamicPost, type ConnectionRequest } from './load';
import { compiledBench } from './paths';
import { firstMessage, spawnNode } from './processes';

export const CPU_SERVERS = {
  bare: 'bare node:http JSON handler (parse body, answer JSON)',
  express:
    'Express 5 with one route, express.json() and res.json() of the same answer: the framework alone, for reference',
  service:
    'createApp + LeaseStore, its DynamoDB caller stubbed in-process (answers DynamoDB JSON), request log on: pino JSON lines to a file',
  'service-silent': 'the same with LOG_LEVEL=silent (no request log), for comparison',
} as const;

export async function startCpuServer(
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

/** Heartbeats on 1,000 users in turn: the load the stub servers are measured under. */
export function heartbeatLoad(): ConnectionRequest {
  let beat = 0;
  return dynamicPost(() => ({ path: '/streams/heartbeat', body: { userId: `u-${beat++ % 1000}`, streamId: 's1' } }));
}
