import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { dynamoRequestListener, forwardRequest } from '../../../support/dynamo-proxy';

/** One DynamoDB call as the service saw it: when it left, and whether a usable answer came back. */
export interface RecordedCall {
  readonly operation: string;
  /** The user's item this call reads or writes (UpdateItem/GetItem), else undefined (display items, table calls). */
  readonly userId: string | undefined;
  /** performance.now() of this process when the call arrived. */
  readonly at: number;
  /**
   * The store's decision reached the service: a 200, or a 400 ConditionalCheckFailedException (the
   * failed condition carries the item). False for faults, throttling, and calls the service gave up on.
   */
  answered: boolean;
}

export interface CallRecorder {
  readonly endpoint: string;
  calls(): readonly RecordedCall[];
  close(): Promise<void>;
}

function itemUser(operation: string, body: string): string | undefined {
  if (operation !== 'UpdateItem' && operation !== 'GetItem') return undefined;
  try {
    const key = (JSON.parse(body) as { Key?: { userId?: { S?: string } } }).Key?.userId?.S;
    // '#' is outside the userId charset: such keys are display items.
    return key !== undefined && !key.includes('#') ? key : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A pass-through HTTP proxy on 127.0.0.1 that records every DynamoDB call and whether the service got
 * the store's answer to it. Put in front of the fault proxy, it tells a degraded answer that the store
 * could not have given apart from one that hides a decision: it sees the faults the fault proxy injects
 * and also the calls a stalled machine made outlive DYNAMODB_TIMEOUT_MS, which no proxy injected.
 */
export async function startCallRecorder(target: string): Promise<CallRecorder> {
  const targetUrl = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const recorded: RecordedCall[] = [];
  const server = http.createServer(
    dynamoRequestListener((req, res, operation, body) => {
      const call: RecordedCall = {
        operation,
        userId: itemUser(operation, body.toString('utf8')),
        at: performance.now(),
        answered: false,
      };
      recorded.push(call);
      forwardRequest(targetUrl, agent, req, body, (answer, text) => {
        const status = answer.statusCode ?? 502;
        const decided = status === 200 || (status === 400 && text.includes('ConditionalCheckFailedException'));
        // Counted as answered only once the service has it: it may have given up (its timeout) already.
        res.once('finish', () => (call.answered = decided && !req.socket.destroyed));
        res.writeHead(status, answer.headers);
        res.end(text);
      });
    }),
  );
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls: () => recorded,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}
