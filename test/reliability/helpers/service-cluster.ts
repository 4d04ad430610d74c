import { startService, type ServiceProcess } from '../../helpers/service-process';
import { HttpClient, sleep, type Answer } from './http-client';

/** A started service process with its keep-alive client. */
export interface Instance {
  readonly service: ServiceProcess;
  readonly client: HttpClient;
}

/** Environment every reliability service shares: no rate limit (the tests are one client sending thousands of requests). */
export const BASE_ENV = { RATE_LIMIT_PER_MINUTE: '0', STREAM_LIMIT: '3' } as const;

export async function startInstances(count: number, env: Record<string, string>): Promise<Instance[]> {
  const services = await Promise.all(Array.from({ length: count }, () => startService({ ...BASE_ENV, ...env })));
  return services.map((service) => ({ service, client: new HttpClient(service.url, { maxSockets: 256 }) }));
}

/** Polls /readyz until 200; returns how long it took. The table is created in the background when the service starts. */
export async function waitReady(instance: Instance, withinMs = 20_000): Promise<number> {
  const started = performance.now();
  let last: Answer | undefined;
  while (performance.now() - started < withinMs) {
    try {
      last = await instance.client.get('/readyz', 5_000);
      if (last.status === 200) return performance.now() - started;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(
    `not ready within ${withinMs} ms: ${last?.status} ${last?.text}\n${instance.service.output().slice(-2000)}`,
  );
}

/** Whether an answer is the contract's 503: problem+json, code STORE_UNAVAILABLE, Retry-After set. */
export function isStoreUnavailable(answer: Answer): boolean {
  const body = answer.json as { code?: unknown; status?: unknown } | undefined;
  return (
    answer.status === 503 &&
    String(answer.headers['content-type']).startsWith('application/problem+json') &&
    body?.code === 'STORE_UNAVAILABLE' &&
    body.status === 503 &&
    answer.headers['retry-after'] !== undefined
  );
}

/** Stream ids listed for a user (a 503 from a stalled machine is retried a few times), or throws. */
export async function listedStreams(client: HttpClient, userId: string): Promise<string[]> {
  let answer = await client.get(`/users/${encodeURIComponent(userId)}/streams`);
  for (let attempt = 1; attempt < 5 && isStoreUnavailable(answer); attempt++) {
    await sleep(200);
    answer = await client.get(`/users/${encodeURIComponent(userId)}/streams`);
  }
  if (answer.status !== 200) throw new Error(`listing ${userId} answered ${answer.status}: ${answer.text}`);
  return ((answer.json as { streams: Array<{ streamId: string }> }).streams ?? []).map((s) => s.streamId);
}

/** The service's own time for a request (its request log's `ms`), found by the X-Request-Id the test sent. */
export function serverMs(instances: readonly Instance[], requestId: string): number | undefined {
  const needle = `"reqId":"${requestId}"`;
  for (const instance of instances) {
    const line = instance.service
      .output()
      .split('\n')
      .find((candidate) => candidate.includes(needle) && candidate.includes('"ms":'));
    const ms = line === undefined ? undefined : /"ms":([\d.]+)/.exec(line)?.[1];
    if (ms !== undefined) return Number(ms);
  }
  return undefined;
}

/**
 * Polls /healthz on every instance while a phase runs and keeps the slowest
 * answer: how long the machine stalled the services (a busy shared CI box can
 * freeze a process for a second or more). Bounds on the service's own request
 * times allow for this much on top, so a stall of the machine is not taken for
 * a store call that ignored its timeout, while a real overshoot still shows.
 */
export function watchStalls(instances: readonly Instance[], everyMs = 100): { stop(): Promise<number> } {
  let running = true;
  let worst = 0;
  const loops = instances.map(async (instance) => {
    while (running) {
      const started = performance.now();
      try {
        await instance.client.get('/healthz', 30_000);
      } catch {
        // A dead instance has no stall to measure.
      }
      worst = Math.max(worst, performance.now() - started);
      await sleep(everyMs);
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return worst;
    },
  };
}
