/*
 * The counting proxy (support/dynamo-proxy.ts) as the bench drives it: in a child process of its own
 * (proxy-child.ts), asked for its counts over IPC.
 */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { compiledBench } from './paths';
import { firstMessage, rpc, sleep, spawnNode } from './processes';

export interface Proxy {
  readonly endpoint: string;
  readonly child: ChildProcess;
  counts(): Promise<Record<string, number>>;
  reset(): Promise<void>;
}

export async function startProxy(target: string): Promise<Proxy> {
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

/**
 * Waits until no DynamoDB request has passed the proxy for 300 ms: requests
 * that autocannon gave up waiting for when a run ended are still finishing in
 * the service, and must be counted with their own run, not the next one.
 */
export async function settle(proxy: Proxy): Promise<void> {
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
