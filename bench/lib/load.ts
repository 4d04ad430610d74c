import autocannon from 'autocannon';
import { Samples, summarize, type LatencySummary } from './stats';

/**
 * An autocannon request that keeps state per connection. autocannon deep-clones
 * its options for every connection, so `state` is one object per connection
 * and persists across that connection's requests (unlike `context`, which is
 * reset every time the request list wraps around).
 */
export type ConnectionRequest = autocannon.Request & { state: Record<string, unknown> };

export interface LoadOptions {
  readonly title: string;
  readonly url: string;
  readonly connections: number;
  /** Seconds; ignored when `amount` is set. */
  readonly durationS?: number;
  /** Total requests, then stop (every request gets its answer). */
  readonly amount?: number;
  /** Requests per second over all connections (0: as fast as answers come). */
  readonly overallRate?: number;
  readonly requests: autocannon.Request[];
  readonly timeoutS?: number;
}

export interface LoadResult {
  readonly title: string;
  readonly connections: number;
  /** From start to the last answer. */
  readonly wallS: number;
  readonly responses: number;
  readonly requestsPerSecond: number;
  readonly latencyMs: LatencySummary;
  /** Answers per HTTP status. */
  readonly statuses: Record<string, number>;
  readonly errors: { readonly status5xx: number; readonly connectionErrors: number; readonly timeouts: number };
  readonly samples: Samples;
}

/** Runs autocannon in this process, recording every answer's latency (any status) at full resolution. */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  const samples = new Samples();
  const statuses: Record<string, number> = {};
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let lastAnswer = 0;
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        ...(options.amount ? { amount: options.amount } : { duration: options.durationS ?? 10 }),
        ...(options.overallRate ? { overallRate: options.overallRate } : {}),
        requests: options.requests,
        timeout: options.timeoutS ?? 10,
      },
      (error, result) => {
        if (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        // Up to the last answer: autocannon itself only notices the end of a short run on its next 1 s tick.
        const wallS = ((lastAnswer > started ? lastAnswer : performance.now()) - started) / 1000;
        let status5xx = 0;
        for (const [status, count] of Object.entries(statuses)) if (Number(status) >= 500) status5xx += count;
        resolve({
          title: options.title,
          connections: options.connections,
          wallS: Math.round(wallS * 1000) / 1000,
          responses: samples.count,
          requestsPerSecond: Math.round(samples.count / wallS),
          latencyMs: summarize(samples),
          statuses,
          errors: { status5xx, connectionErrors: result.errors - result.timeouts, timeouts: result.timeouts },
          samples,
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      lastAnswer = performance.now();
      samples.add(responseTime);
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
    });
  });
}

export const jsonHeaders = { 'content-type': 'application/json' };

/** A POST whose body each call of `next` decides (counted by the caller). */
export function dynamicPost(
  next: (state: Record<string, unknown>) => { path: string; body: unknown },
): ConnectionRequest {
  return {
    method: 'POST',
    path: '/',
    headers: jsonHeaders,
    state: {},
    setupRequest: (request) => {
      const { path, body } = next((request as ConnectionRequest).state);
      return { ...request, path, body: JSON.stringify(body) };
    },
  };
}
