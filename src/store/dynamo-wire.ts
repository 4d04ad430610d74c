import http from 'node:http';
import https from 'node:https';
import { SigV4Signer, type AwsCredentials } from './sigv4';

/**
 * DynamoDB's JSON protocol spoken directly: one signed POST per call over a
 * keep-alive agent, bounded by the caller's deadline, with the SDK's retry
 * policy for throttling, 5xx and dropped connections.
 *
 * Why not the AWS SDK for these calls: its middleware stack (endpoint rules,
 * schema serde, retry strategy, signer, logger filters) cost 650-850 µs of CPU
 * per UpdateItem in the benchmark, several times the rest of a request, and on
 * a CPU-bound host that CPU becomes every request's latency. The requests here
 * have three fixed shapes; the SDK still creates tables and resolves
 * credentials and the endpoint (see lease-store.ts).
 */
export interface DynamoCaller {
  /**
   * Sends `operation` (e.g. "UpdateItem") with `body` and resolves with the answer's JSON. Rejects with
   * DynamoServiceError for an error answer, DynamoTimeout when `deadline` (epoch ms) passes, or the
   * socket's own error.
   */
  call(operation: string, body: object, deadline: number): Promise<Record<string, unknown>>;
  destroy(): void;
}

/** An error answer from DynamoDB; `name` is its type (ConditionalCheckFailedException, ...). */
export class DynamoServiceError extends Error {
  /** Shaped like the SDK's errors, so one fault classifier serves both. */
  readonly $metadata: { readonly httpStatusCode: number };
  readonly $fault: 'client' | 'server';

  constructor(
    name: string,
    message: string,
    status: number,
    /** The whole error answer: a failed condition carries the item (ALL_OLD) here. */
    readonly answer: Readonly<Record<string, unknown>>,
  ) {
    super(message);
    this.name = name;
    this.$metadata = { httpStatusCode: status };
    this.$fault = status >= 500 ? 'server' : 'client';
  }
}

export class DynamoTimeout extends Error {
  constructor(operation: string) {
    super(`${operation} did not answer within the store timeout`);
    this.name = 'TimeoutError';
  }
}

export interface DynamoWireOptions {
  /** The endpoint, or how to find it on first use (the SDK's rules: region, FIPS, dual-stack). */
  readonly endpoint: URL | (() => Promise<URL>);
  readonly region: string;
  /** Resolved once and reused until five minutes before it expires. */
  readonly credentials: () => Promise<AwsCredentials>;
  /** Tries per call, the first included (the SDK's default is 3). */
  readonly maxAttempts?: number;
  /**
   * Connections kept to DynamoDB (default 128). At ~5 ms a call that is over 20,000 calls/s, far
   * beyond one instance; more only means a connection storm when a burst arrives: in the benchmark,
   * 1,000 players pressing play at once opened 512 connections together and some of their SYNs
   * waited out a retransmit, past the store timeout.
   */
  readonly maxSockets?: number;
}

interface Connection {
  readonly endpoint: URL;
  readonly agent: http.Agent;
  readonly request: typeof http.request;
}

const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'LimitExceededException',
]);
const TRANSIENT_SOCKET_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EAI_AGAIN',
  'EHOSTUNREACH',
]);
const CREDENTIALS_REFRESH_MS = 5 * 60_000;
const RETRY_BASE_MS = 25;

function isRetryable(error: unknown): boolean {
  if (error instanceof DynamoServiceError) return error.$metadata.httpStatusCode >= 500 || THROTTLING.has(error.name);
  if (error instanceof DynamoTimeout) return false;
  const code = (error as { code?: string }).code;
  return code !== undefined && TRANSIENT_SOCKET_CODES.has(code);
}

function errorFromAnswer(status: number, text: string): DynamoServiceError {
  let answer: Record<string, unknown> = {};
  try {
    answer = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // Not JSON (a balancer's or proxy's page): keep the status.
  }
  const type = typeof answer.__type === 'string' ? answer.__type : '';
  const name = type.slice(type.lastIndexOf('#') + 1) || (status >= 500 ? 'InternalServerError' : `HTTP${status}`);
  const message = answer.message ?? answer.Message ?? (text.slice(0, 200) || `HTTP ${status}`);
  return new DynamoServiceError(name, String(message), status, answer);
}

export class DynamoWire implements DynamoCaller {
  private readonly signer: SigV4Signer;
  private readonly agentOptions: http.AgentOptions;
  private readonly maxAttempts: number;
  private connection: Connection | undefined;
  /** The lazily given endpoint's resolution, shared by the calls that arrive while it runs. */
  private connecting: Promise<Connection> | undefined;
  private credentials: AwsCredentials | undefined;

  constructor(private readonly options: DynamoWireOptions) {
    this.signer = new SigV4Signer(options.region, 'dynamodb');
    this.agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 128 };
    this.maxAttempts = options.maxAttempts ?? 3;
    if (options.endpoint instanceof URL) this.connection = this.connect(options.endpoint);
  }

  async call(operation: string, body: object, deadline: number): Promise<Record<string, unknown>> {
    const payload = JSON.stringify(body);
    for (let attempt = 1; ; attempt++) {
      try {
        const connection = this.connection ?? (await this.firstConnection());
        return await this.send(connection, operation, payload, await this.currentCredentials(), deadline);
      } catch (error) {
        if (attempt >= this.maxAttempts || !isRetryable(error)) throw error;
        // Full jitter, as the SDK does, so a throttled fleet does not retry in step.
        const pause = Math.random() * RETRY_BASE_MS * 2 ** attempt;
        if (Date.now() + pause >= deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    }
  }

  destroy(): void {
    this.connection?.agent.destroy();
  }

  /**
   * Resolves the endpoint once for every call waiting on it: a burst at start-up must not build an
   * agent per call (only the last would be kept, and destroy() would miss the others' sockets).
   * A failed resolution is forgotten, so the next call tries again.
   */
  private firstConnection(): Promise<Connection> {
    this.connecting ??= (this.options.endpoint as () => Promise<URL>)().then(
      (endpoint) => (this.connection = this.connect(endpoint)),
      (error: unknown) => {
        this.connecting = undefined;
        throw error;
      },
    );
    return this.connecting;
  }

  private connect(endpoint: URL): Connection {
    const secure = endpoint.protocol === 'https:';
    return {
      endpoint,
      agent: secure ? new https.Agent(this.agentOptions) : new http.Agent(this.agentOptions),
      request: secure ? https.request : http.request,
    };
  }

  private async currentCredentials(): Promise<AwsCredentials> {
    const cached = this.credentials;
    if (
      cached &&
      (cached.expiration === undefined || cached.expiration.getTime() - Date.now() > CREDENTIALS_REFRESH_MS)
    )
      return cached;
    this.credentials = await this.options.credentials();
    return this.credentials;
  }

  private send(
    { endpoint, agent, request }: Connection,
    operation: string,
    payload: string,
    credentials: AwsCredentials,
    deadline: number,
  ): Promise<Record<string, unknown>> {
    const headers: Record<string, string> = {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': `DynamoDB_20120810.${operation}`,
    };
    Object.assign(headers, this.signer.sign({ host: endpoint.host, headers, body: payload }, credentials, new Date()));
    headers.host = endpoint.host;
    headers['content-length'] = String(Buffer.byteLength(payload));

    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (error: Error | undefined, answer?: Record<string, unknown>) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(answer!);
      };
      const outgoing = request(
        {
          host: endpoint.hostname,
          port: endpoint.port || undefined,
          method: 'POST',
          path: '/',
          agent,
          headers,
        },
        (incoming) => {
          const chunks: Buffer[] = [];
          incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
          incoming.on('error', (error) => settle(error));
          incoming.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = incoming.statusCode ?? 0;
            if (status !== 200) return settle(errorFromAnswer(status, text));
            try {
              settle(undefined, text === '' ? {} : (JSON.parse(text) as Record<string, unknown>));
            } catch (error) {
              settle(
                new DynamoServiceError(
                  'SerializationException',
                  `unreadable answer: ${(error as Error).message}`,
                  502,
                  {},
                ),
              );
            }
          });
        },
      );
      // Settled before the socket is destroyed, so the caller sees the timeout, not the reset it causes.
      const timer = setTimeout(
        () => {
          settle(new DynamoTimeout(operation));
          outgoing.destroy();
        },
        Math.max(1, deadline - Date.now()),
      );
      outgoing.on('error', (error) => settle(error));
      outgoing.end(payload);
    });
  }
}
