import http from 'node:http';

/** How long a client may take, and how many may be connected at once, per instance. */
export interface ServerLimits {
  /** Until the request's headers are in: a slow-headers (slowloris) client is cut off after this. */
  readonly headersTimeoutMs: number;
  /** Until the whole request is in (bodies are at most 16 KiB); not the time to answer it. */
  readonly requestTimeoutMs: number;
  /**
   * Idle time before the server closes a keep-alive connection. Longer than an ALB's 60 s idle
   * timeout, so the balancer, not us, closes idle connections and never sends a request onto a
   * connection we are closing (a 502 for the player). Idle connections are not subject to
   * headersTimeout in Node >= 18, so this may exceed it.
   */
  readonly keepAliveTimeoutMs: number;
  /** How often Node checks the two timeouts above; its default (30 s) would stretch them by up to that. */
  readonly timeoutCheckIntervalMs: number;
  /**
   * Connections beyond this are closed as soon as they are accepted, so a flood of clients meets a
   * refusal (a load balancer retries or answers 502) instead of growing the heap until the process
   * is killed and every player on this instance loses its answer.
   */
  readonly maxConnections: number;
}

export const SERVER_LIMITS: ServerLimits = Object.freeze({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 15_000,
  keepAliveTimeoutMs: 65_000,
  timeoutCheckIntervalMs: 1_000,
  maxConnections: 10_000,
});

/** How often a refused connection is logged, at most. */
const DROP_LOG_INTERVAL_MS = 10_000;

/**
 * An HTTP server for the app with the limits above. `onRefused` hears how many connections were
 * refused for the connection bound since it last spoke, at most every 10 s.
 */
export function createHttpServer(
  app: http.RequestListener,
  limits: Partial<ServerLimits> = {},
  onRefused?: (refused: number) => void,
): http.Server {
  const { headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs, timeoutCheckIntervalMs, maxConnections } = {
    ...SERVER_LIMITS,
    ...limits,
  };
  if (headersTimeoutMs > requestTimeoutMs) throw new RangeError('headersTimeoutMs must not exceed requestTimeoutMs');
  const server = http.createServer(
    {
      headersTimeout: headersTimeoutMs,
      requestTimeout: requestTimeoutMs,
      keepAliveTimeout: keepAliveTimeoutMs,
      connectionsCheckingInterval: timeoutCheckIntervalMs,
    },
    app,
  );
  server.maxConnections = maxConnections;
  let refused = 0;
  let lastReport = -Infinity;
  server.on('drop', () => {
    refused++;
    const now = performance.now();
    if (now - lastReport < DROP_LOG_INTERVAL_MS) return;
    lastReport = now;
    onRefused?.(refused);
    refused = 0;
  });
  return server;
}
