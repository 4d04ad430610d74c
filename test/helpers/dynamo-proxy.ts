import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * What the proxy does to the next requests:
 * - pass: forward untouched
 * - delay: wait `delayMs` before forwarding (a slow store)
 * - refuse: stop listening, so connections are refused (a store that is down)
 * - reset: destroy the connection without forwarding
 * - drop-response: forward, let DynamoDB apply it, then destroy the connection (a lost answer)
 * - error500: answer 500 InternalServerError without forwarding
 * - throttle: answer 400 ProvisionedThroughputExceededException without forwarding
 */
export type FaultMode = 'pass' | 'delay' | 'refuse' | 'reset' | 'drop-response' | 'error500' | 'throttle';

export interface FaultPlan {
  readonly mode: FaultMode;
  readonly delayMs?: number;
  /** Share of requests affected, 0..1 (default 1). */
  readonly probability?: number;
  /** Only these operations (e.g. ['UpdateItem']); default all. */
  readonly operations?: readonly string[];
}

export interface DynamoProxy {
  readonly endpoint: string;
  /** Requests seen per DynamoDB operation (X-Amz-Target suffix), faulted ones included. */
  counts(): Record<string, number>;
  resetCounts(): void;
  /** Faults injected so far, per mode. */
  faultsInjected(): Record<string, number>;
  setFault(plan: FaultPlan): Promise<void>;
  close(): Promise<void>;
}

const THROTTLE_BODY = JSON.stringify({
  __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
  message: 'The level of configured provisioned throughput for the table was exceeded (injected by test proxy)',
});
const INTERNAL_BODY = JSON.stringify({
  __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
  message: 'Internal server error (injected by test proxy)',
});

/**
 * An HTTP proxy in front of DynamoDB Local, on 127.0.0.1, that counts calls
 * by operation and injects faults. Used by the fault tests, the reliability
 * suite and the benchmark (which reports DynamoDB requests per API call).
 */
export async function startDynamoProxy(target: string, port = 0): Promise<DynamoProxy> {
  const targetUrl = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const counts: Record<string, number> = {};
  const injected: Record<string, number> = {};
  let plan: FaultPlan = { mode: 'pass' };
  const sockets = new Set<Socket>();

  const applies = (operation: string) =>
    plan.mode !== 'pass' &&
    (plan.operations === undefined || plan.operations.includes(operation)) &&
    Math.random() < (plan.probability ?? 1);

  const forward = (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse, dropResponse: boolean) => {
    const upstream = http.request(
      {
        host: targetUrl.hostname,
        port: targetUrl.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (upstreamResponse) => {
        const chunks: Buffer[] = [];
        upstreamResponse.on('data', (chunk: Buffer) => chunks.push(chunk));
        upstreamResponse.on('end', () => {
          if (dropResponse) {
            req.socket.destroy();
            return;
          }
          res.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
          res.end(Buffer.concat(chunks));
        });
      },
    );
    upstream.on('error', () => req.socket.destroy());
    upstream.end(body);
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const operation = String(req.headers['x-amz-target'] ?? 'unknown').split('.').pop() ?? 'unknown';
      counts[operation] = (counts[operation] ?? 0) + 1;
      const body = Buffer.concat(chunks);
      if (!applies(operation)) {
        forward(req, body, res, false);
        return;
      }
      injected[plan.mode] = (injected[plan.mode] ?? 0) + 1;
      switch (plan.mode) {
        case 'delay':
          setTimeout(() => forward(req, body, res, false), plan.delayMs ?? 2000);
          return;
        case 'reset':
        case 'refuse':
          req.socket.destroy();
          return;
        case 'drop-response':
          forward(req, body, res, true);
          return;
        case 'error500':
          res.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' }).end(INTERNAL_BODY);
          return;
        case 'throttle':
          res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' }).end(THROTTLE_BODY);
          return;
        default:
          forward(req, body, res, false);
      }
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.keepAliveTimeout = 5000;

  const listen = (onPort: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(onPort, '127.0.0.1', () => {
        server.off('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  const stopListening = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });

  const boundPort = await listen(port);
  return {
    endpoint: `http://127.0.0.1:${boundPort}`,
    counts: () => ({ ...counts }),
    resetCounts: () => {
      for (const key of Object.keys(counts)) delete counts[key];
    },
    faultsInjected: () => ({ ...injected }),
    setFault: async (next) => {
      const wasRefusing = plan.mode === 'refuse';
      plan = next;
      if (next.mode === 'refuse' && (next.probability ?? 1) >= 1) {
        injected.refuse = (injected.refuse ?? 0) + 1;
        await stopListening();
      } else if (wasRefusing && !server.listening) {
        await listen(boundPort);
      }
    },
    close: async () => {
      await stopListening();
      agent.destroy();
    },
  };
}
