import http from 'node:http';
import https from 'node:https';
import { AwsSdkSigV4Signer } from '@aws-sdk/core/httpAuthSchemes';
import { Sha256 } from '@smithy/core/checksum';
import { HttpRequest, HttpResponse } from '@smithy/core/protocols';
import { StandardRetryStrategy, isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentityProvider, RetryErrorType, SdkError, StandardRetryToken } from '@smithy/types';
import { CallGate } from './call-gate';

/**
 * DynamoDB's JSON protocol sent over a keep-alive agent, one POST per call, with AWS's own parts for
 * everything AWS-specific: the SDK's SigV4 signer (`@smithy/signature-v4` through `AwsSdkSigV4Signer`,
 * which also corrects the clock from the answer's `Date` header), the SDK's standard retry strategy
 * (`StandardRetryStrategy`: retry quota, separate back-off for throttling) and its error
 * classification. What is ours is only the HTTP exchange and the deadline.
 *
 * Why not the DynamoDBClient itself for these calls: in the bench's client comparison
 * (bench/scenarios/client-cpu.ts) it costs several hundred µs of CPU more per call than this
 * transport, and on a CPU-bound host that CPU becomes every request's latency. The SDK still creates
 * tables and resolves the credentials and the endpoint (see lease-store.ts and dynamo-endpoint.ts).
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
  /** Shaped like the SDK's errors, so the SDK's classification and one fault classifier serve both. */
  readonly $metadata: { readonly httpStatusCode: number; clockSkewCorrected?: boolean };
  readonly $fault: 'client' | 'server';

  constructor(
    name: string,
    message: string,
    status: number,
    /** The whole error answer: a failed condition carries the item (ALL_OLD) here. */
    readonly answer: Readonly<Record<string, unknown>>,
    /** The HTTP answer, whose `Date` header the signer reads to correct the clock. */
    readonly $response?: HttpResponse,
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
  /** The endpoint, or how to find it on first use (see dynamo-endpoint.ts). */
  readonly endpoint: URL | (() => Promise<URL>);
  readonly region: string;
  /**
   * Called for every signature: pass the SDK client's `config.credentials`, which memoizes the
   * default chain (task role, environment, profile) and refreshes it before it expires.
   */
  readonly credentials: AwsCredentialIdentityProvider;
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

/** What AwsSdkSigV4Signer reads and, after each answer, writes (the clock offset). */
interface SigningConfig {
  systemClockOffset: number;
  readonly signer: () => Promise<SignatureV4>;
}

/** AwsSdkSigV4Signer signs with what its SignatureV4 asks the credentials provider, not with this argument. */
const IGNORED_IDENTITY = Object.freeze({ accessKeyId: '', secretAccessKey: '' });

/** The SDK's order of questions (its retry middleware asks the same). */
function retryErrorType(error: SdkError): RetryErrorType {
  if (isThrottlingError(error)) return 'THROTTLING';
  if (isTransientError(error)) return 'TRANSIENT';
  if (isServerError(error)) return 'SERVER_ERROR';
  return 'CLIENT_ERROR';
}

function errorFromAnswer(status: number, text: string, response: HttpResponse): DynamoServiceError {
  let answer: Record<string, unknown> = {};
  try {
    answer = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // Not JSON (a balancer's or proxy's page): keep the status.
  }
  const type = typeof answer.__type === 'string' ? answer.__type : '';
  const name = type.slice(type.lastIndexOf('#') + 1) || (status >= 500 ? 'InternalServerError' : `HTTP${status}`);
  const message = answer.message ?? answer.Message ?? (text.slice(0, 200) || `HTTP ${status}`);
  return new DynamoServiceError(name, String(message), status, answer, response);
}

export class DynamoWire implements DynamoCaller {
  private readonly agentOptions: http.AgentOptions;
  private readonly signer = new AwsSdkSigV4Signer();
  private readonly signing: SigningConfig;
  /** One strategy for all calls: its retry quota is shared, as the SDK shares one per client. */
  private readonly retries: StandardRetryStrategy;
  private connection: Connection | undefined;
  /** The lazily given endpoint's resolution, shared by the calls that arrive while it runs. */
  private connecting: Promise<Connection> | undefined;
  /** At most maxSockets calls in flight; the rest wait their turn, and are refused unsent when it comes too late. */
  private readonly gate: CallGate;

  constructor(private readonly options: DynamoWireOptions) {
    const signatureV4 = new SignatureV4({
      credentials: options.credentials,
      region: options.region,
      service: 'dynamodb',
      sha256: Sha256,
      uriEscapePath: true,
    });
    this.signing = { systemClockOffset: 0, signer: () => Promise.resolve(signatureV4) };
    this.retries = new StandardRetryStrategy(options.maxAttempts ?? 3);
    this.agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 128 };
    this.gate = new CallGate(this.agentOptions.maxSockets!, (operation) => new DynamoTimeout(operation));
    if (options.endpoint instanceof URL) this.connection = this.connect(options.endpoint);
  }

  async call(operation: string, body: object, deadline: number): Promise<Record<string, unknown>> {
    const payload = JSON.stringify(body);
    let token = await this.retries.acquireInitialRetryToken('');
    for (;;) {
      try {
        const connection = this.connection ?? (await this.firstConnection());
        const answer = await this.gated(operation, deadline, () => this.send(connection, operation, payload, deadline));
        this.retries.recordSuccess(token);
        return answer;
      } catch (error) {
        // The deadline bounds the whole call: a timed-out try is not tried again.
        if (error instanceof DynamoTimeout) throw error;
        token = await this.retryToken(token, error as SdkError, deadline);
      }
    }
  }

  destroy(): void {
    this.connection?.agent.destroy();
  }

  /** One try through the gate; an answer (even an error answer) within the deadline feeds its estimate. */
  private async gated<T>(operation: string, deadline: number, send: () => Promise<T>): Promise<T> {
    await this.gate.enter(operation, deadline);
    const sent = Date.now();
    let answeredIn: number | undefined;
    try {
      const answer = await send();
      answeredIn = Date.now() - sent;
      return answer;
    } catch (error) {
      // An error answer (a failed condition, a throttle) took the store as long; a timeout or a reset says nothing.
      if (error instanceof DynamoServiceError) answeredIn = Date.now() - sent;
      throw error;
    } finally {
      this.gate.leave(answeredIn);
    }
  }

  /**
   * Asks the strategy for another try; it waits out its back-off before answering. Rejects with the
   * error itself when the strategy refuses (not retryable, attempts or quota spent) or when the
   * back-off would end past the deadline, so the caller sees why the call failed (a throttle, say),
   * not that time ran out.
   */
  private async retryToken(token: StandardRetryToken, error: SdkError, deadline: number): Promise<StandardRetryToken> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeUp = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), Math.max(0, deadline - Date.now()));
    });
    try {
      const next = await Promise.race([
        this.retries.refreshRetryTokenForRetry(token, { error, errorType: retryErrorType(error) }),
        timeUp,
      ]);
      if (next === undefined) throw error;
      return next;
    } catch {
      throw error;
    } finally {
      clearTimeout(timer);
    }
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

  private async send(
    { endpoint, agent, request }: Connection,
    operation: string,
    payload: string,
    deadline: number,
  ): Promise<Record<string, unknown>> {
    const signingProperties = {
      config: this.signing,
      context: {},
      signingRegion: this.options.region,
      signingName: 'dynamodb',
    };
    const signed = (await this.signer.sign(
      new HttpRequest({
        protocol: endpoint.protocol,
        hostname: endpoint.hostname,
        ...(endpoint.port && { port: Number(endpoint.port) }),
        method: 'POST',
        path: '/',
        headers: {
          host: endpoint.host,
          'content-type': 'application/x-amz-json-1.0',
          'content-length': String(Buffer.byteLength(payload)),
          'x-amz-target': `DynamoDB_20120810.${operation}`,
        },
        body: payload,
      }),
      IGNORED_IDENTITY,
      signingProperties,
    )) as HttpRequest;

    const response = await new Promise<HttpResponse>((resolve, reject) => {
      let settled = false;
      const settle = (error: Error | undefined, answer?: HttpResponse) => {
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
          headers: signed.headers,
        },
        (incoming) => {
          const chunks: Buffer[] = [];
          incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
          incoming.on('error', (error) => settle(error));
          incoming.on('end', () =>
            settle(
              undefined,
              new HttpResponse({
                statusCode: incoming.statusCode ?? 0,
                headers: incoming.headers as Record<string, string>,
                body: Buffer.concat(chunks).toString('utf8'),
              }),
            ),
          );
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

    const text = response.body as string;
    if (response.statusCode !== 200) {
      // Records the server's clock when it differs by minutes, and marks the error so the strategy retries it.
      this.signer.errorHandler(signingProperties)(errorFromAnswer(response.statusCode, text, response));
    }
    this.signer.successHandler(response, signingProperties);
    try {
      return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
    } catch (error) {
      throw new DynamoServiceError(
        'SerializationException',
        `unreadable answer: ${(error as Error).message}`,
        502,
        {},
        response,
      );
    }
  }
}
