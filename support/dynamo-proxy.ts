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

/** A request as the proxy received it: the DynamoDB operation and the JSON body as text. */
export interface ProxiedRequest {
  readonly operation: string;
  readonly body: string;
}

/** A request the proxy faulted: what it was, how, and when it arrived (performance.now() of this process). */
export interface FaultRecord extends ProxiedRequest {
  readonly mode: Exclude<FaultMode, 'pass'>;
  readonly at: number;
}

/** One request held at the proxy until the test lets it go (see DynamoProxy.hold). */
export interface Hold {
  /** Resolves once the matching request has reached the proxy and is being held; rejects if the proxy closes first. */
  readonly arrived: Promise<ProxiedRequest>;
  /** Forwards the held request (under the fault plan current at that moment); before it arrived, cancels the hold. */
  release(): void;
}

export interface DynamoProxy {
  readonly endpoint: string;
  /** Requests seen per DynamoDB operation (X-Amz-Target suffix), faulted ones included. */
  counts(): Record<string, number>;
  resetCounts(): void;
  /** Faults injected so far, per mode. */
  faultsInjected(): Record<string, number>;
  /** Every request faulted so far, in arrival order (a refuse at 100 % closes the port: those never arrive). */
  faultLog(): readonly FaultRecord[];
  setFault(plan: FaultPlan): Promise<void>;
  /**
   * Holds the first request from now on for which `matches` is true (once), until `release()`;
   * every other request passes as usual. Lets a test force an interleaving instead of hoping for
   * it: "this write reaches DynamoDB only after those other requests". A predicate that throws
   * counts as no match. close() drops a held request without forwarding it.
   */
  hold(matches: (request: ProxiedRequest) => boolean): Hold;
  close(): Promise<void>;
}

interface PendingHold {
  readonly matches: (request: ProxiedRequest) => boolean;
  readonly arrive: (request: ProxiedRequest) => void;
  readonly fail: (error: Error) => void;
  /** Set when the request arrived: forwards it. */
  forward?: () => void;
  released: boolean;
}

const THROTTLE_BODY = JSON.stringify({
  __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
  message: 'The level of configured provisioned throughput for the table was exceeded (injected by test proxy)',
});
const INTERNAL_BODY = JSON.stringify({
  __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
  message: 'Internal server error (injected by test proxy)',
});

/** The DynamoDB operation a request names: the last part of its X-Amz-Target header (`DynamoDB_20120810.UpdateItem`). */
export function dynamoOperation(req: http.IncomingMessage): string {
  return (
    String(req.headers['x-amz-target'] ?? 'unknown')
      .split('.')
      .pop() ?? 'unknown'
  );
}

/** A request listener that reads each request's whole body, then hands it on with the operation it names. */
export function dynamoRequestListener(
  handle: (req: http.IncomingMessage, res: http.ServerResponse, operation: string, body: Buffer) => void,
): http.RequestListener {
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handle(req, res, dynamoOperation(req), Buffer.concat(chunks)));
  };
}

/**
 * Sends a request on to `target` as it came (method, path, headers, body) and hands the whole
 * answer to `onAnswer`. If the target fails before or while answering, the client's connection is
 * destroyed, as a store that went away would leave it. A call the client gives up on is not
 * cancelled: it runs to its end, as it would against DynamoDB (a late write lands).
 */
export function forwardRequest(
  target: URL,
  agent: http.Agent,
  req: http.IncomingMessage,
  body: Buffer,
  onAnswer: (answer: http.IncomingMessage, body: Buffer) => void,
): void {
  const upstream = http.request(
    { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
    (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (chunk: Buffer) => chunks.push(chunk));
      answer.on('error', () => req.socket.destroy());
      answer.on('end', () => onAnswer(answer, Buffer.concat(chunks)));
    },
  );
  upstream.on('error', () => req.socket.destroy());
  upstream.end(body);
}

/**
 * An HTTP proxy in front of DynamoDB Local, on 127.0.0.1, that counts calls
 * by operation and injects faults. Used by the fault tests, the reliability
 * suite (whose call recorder is built from the helpers above) and the
 * benchmark (which reports DynamoDB requests per API call).
 */
export async function startDynamoProxy(target: string, port = 0): Promise<DynamoProxy> {
  const targetUrl = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const counts: Record<string, number> = {};
  const injected: Record<string, number> = {};
  const faulted: FaultRecord[] = [];
  let plan: FaultPlan = { mode: 'pass' };
  const sockets = new Set<Socket>();
  /** Holds whose request has not arrived yet, oldest first. */
  const waiting = new Set<PendingHold>();
  let closed = false;

  const applies = (operation: string) =>
    plan.mode !== 'pass' &&
    (plan.operations === undefined || plan.operations.includes(operation)) &&
    Math.random() < (plan.probability ?? 1);

  const forward = (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse, dropResponse: boolean) =>
    forwardRequest(targetUrl, agent, req, body, (answer, answerBody) => {
      if (dropResponse) {
        req.socket.destroy();
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      res.end(answerBody);
    });

  const dispatch = (req: http.IncomingMessage, res: http.ServerResponse, operation: string, body: Buffer) => {
    if (!applies(operation)) {
      forward(req, body, res, false);
      return;
    }
    injected[plan.mode] = (injected[plan.mode] ?? 0) + 1;
    // Decoded only for faulted requests, so the benchmark's forwarding costs nothing more.
    faulted.push({
      operation,
      body: body.toString('utf8'),
      mode: plan.mode as FaultRecord['mode'],
      at: performance.now(),
    });
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
  };

  /** The first waiting hold that wants this request, taken off the waiting list. */
  const claim = (request: ProxiedRequest): PendingHold | undefined => {
    for (const hold of waiting) {
      let matched = false;
      try {
        matched = hold.matches(request);
      } catch {
        // A predicate that cannot read this request (not the JSON it expected) does not want it.
      }
      if (matched) {
        waiting.delete(hold);
        return hold;
      }
    }
    return undefined;
  };

  const server = http.createServer(
    dynamoRequestListener((req, res, operation, body) => {
      counts[operation] = (counts[operation] ?? 0) + 1;
      // Decoded only while a test waits for a request, so the benchmark's forwarding costs nothing more.
      if (waiting.size > 0) {
        const request: ProxiedRequest = { operation, body: body.toString('utf8') };
        const hold = claim(request);
        if (hold) {
          hold.forward = () => dispatch(req, res, operation, body);
          hold.arrive(request);
          return;
        }
      }
      dispatch(req, res, operation, body);
    }),
  );
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
    faultLog: () => faulted.slice(),
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
    hold: (matches) => {
      let arrive!: (request: ProxiedRequest) => void;
      let fail!: (error: Error) => void;
      const arrived = new Promise<ProxiedRequest>((resolve, reject) => {
        arrive = resolve;
        fail = reject;
      });
      // A hold released or closed before anything arrived is not an unhandled rejection.
      arrived.catch(() => undefined);
      const pending: PendingHold = { matches, arrive, fail, released: false };
      if (closed) fail(new Error('dynamo proxy: closed'));
      else waiting.add(pending);
      return {
        arrived,
        release: () => {
          if (pending.released) return;
          pending.released = true;
          if (pending.forward) {
            if (!closed) pending.forward();
            return;
          }
          waiting.delete(pending);
          pending.fail(new Error('dynamo proxy: hold released before a request matched'));
        },
      };
    },
    close: async () => {
      closed = true;
      for (const pending of waiting) pending.fail(new Error('dynamo proxy: closed before a request matched'));
      waiting.clear();
      await stopListening();
      agent.destroy();
    },
  };
}
