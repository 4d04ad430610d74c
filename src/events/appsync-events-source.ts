import { randomUUID } from 'node:crypto';
import { Sha256 } from '@smithy/core/checksum';
import { HttpRequest } from '@smithy/core/protocols';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { ChangeSource, StreamTerminated } from './change-feed';
import { TERMINATIONS_CHANNEL } from './fanout-handler';

/*
 * A task's end of the fleet's fan-out (docs/change-feed.md): one WebSocket to the AppSync Event
 * API, one subscription to the channel the stream's single reader (fanout-handler.ts) publishes
 * terminations to. AppSync Events WebSocket protocol: connect with the `aws-appsync-event-ws`
 * subprotocol and the connection's signed headers as a `header-<base64url>` subprotocol, send
 * `connection_init`, await `connection_ack` (it names the keep-alive timeout), send `subscribe`
 * with its own signed headers, await `subscribe_success`, then `ka` and `data` messages follow.
 */

export const APPSYNC_EVENTS_SUBPROTOCOL = 'aws-appsync-event-ws';

/** The part of the WHATWG WebSocket this source uses (Node 22's global, or a test's). */
export interface SocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open', listener: () => void): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void;
  addEventListener(type: 'error', listener: () => void): void;
}
export type SocketConstructor = new (url: string, protocols: string[]) => SocketLike;

export interface AppSyncEventsSourceOptions {
  /** The Event API's realtime endpoint: wss://<id>.appsync-realtime-api.<region>.amazonaws.com/event/realtime */
  readonly url: URL;
  /** The API's region, which signs the connection and the subscription. */
  readonly region: string;
  /** The task role's credentials (the default provider chain); called again for every connection. */
  readonly credentials: AwsCredentialIdentityProvider;
  readonly logger: Logger;
  readonly channel?: string;
  /** Bound on each handshake step (open + connection_ack, then subscribe_success). */
  readonly handshakeTimeoutMs?: number;
  /** First pause after a lost or refused connection; it doubles up to maxBackoffMs, and resets once subscribed. */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Defaults to the global WebSocket (Node 22 and later). */
  readonly WebSocket?: SocketConstructor;
}

/** What a `data` message carries: one StreamTerminated as fanout-handler.ts published it. */
const publishedTermination = z.object({
  userId: z.string().min(1),
  streamId: z.string().min(1),
  reason: z.enum(['removed', 'replaced', 'evicted']),
  replacedBy: z.object({ streamId: z.string().min(1), deviceId: z.string().optional() }).optional(),
  at: z.number(),
  replacerDeviceOutOfLine: z.boolean(),
});

/** The headers IAM authorization signs: those of a POST to the API's HTTP endpoint (AppSync's documented set). */
const SIGNED_BASE_HEADERS = {
  accept: 'application/json, text/javascript',
  'content-encoding': 'amz-1.0',
  'content-type': 'application/json; charset=UTF-8',
};

/** AppSync's default when connection_ack does not say. */
const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 300_000;

/**
 * The host requests are signed for: the API's HTTP domain. AWS names the realtime domain after it
 * (`appsync-realtime-api` for `appsync-api`); a custom domain (or a stand-in) serves both on one host.
 */
export function signingHost(url: URL): string {
  return url.host.replace('.appsync-realtime-api.', '.appsync-api.');
}

interface SessionEnd {
  readonly subscribed: boolean;
  readonly reason: Error;
}

/**
 * Subscribes to the terminations channel over AppSync Events' WebSocket protocol. A lost connection,
 * a refused handshake or a missed keep-alive is logged and retried with back-off (jittered, up to
 * 10 s), resubscribing with freshly signed headers; it never reaches a request, since heartbeats
 * stay the truth.
 */
export class AppSyncEventsSource implements ChangeSource {
  private readonly logger: Logger;
  private readonly channel: string;
  private readonly signer: SignatureV4;
  private readonly WebSocket: SocketConstructor;
  private readonly handshakeTimeoutMs: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private deliver: (event: StreamTerminated) => void = () => undefined;
  private stopped = false;
  private running: Promise<void> | undefined;
  private endSession: (() => void) | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly options: AppSyncEventsSourceOptions) {
    const WebSocket =
      options.WebSocket ?? ((globalThis as { WebSocket?: unknown }).WebSocket as SocketConstructor | undefined);
    if (typeof WebSocket !== 'function')
      throw new Error('STREAM_EVENTS=appsync needs a global WebSocket (Node 22 or later)');
    this.WebSocket = WebSocket;
    this.logger = options.logger;
    this.channel = options.channel ?? TERMINATIONS_CHANNEL;
    // No x-amz-content-sha256: AppSync's documented header set for a signed connection has none.
    this.signer = new SignatureV4({
      service: 'appsync',
      region: options.region,
      credentials: options.credentials,
      sha256: Sha256,
      applyChecksum: false,
    });
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? 15_000;
    this.initialBackoffMs = options.initialBackoffMs ?? 500;
    this.maxBackoffMs = options.maxBackoffMs ?? 10_000;
  }

  start(deliver: (event: StreamTerminated) => void): Promise<void> {
    this.deliver = deliver;
    return new Promise<void>((started) => {
      this.running = this.run(started);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.endSession?.();
    this.wake?.();
    await this.running;
  }

  private async run(started: () => void): Promise<void> {
    for (let backoffMs = this.initialBackoffMs; !this.stopped;) {
      const end = await this.session(started);
      if (this.stopped) break;
      if (end.subscribed) backoffMs = this.initialBackoffMs;
      // Full jitter: a fleet that lost its connections at once does not come back at once.
      const pauseMs = Math.round(backoffMs / 2 + (Math.random() * backoffMs) / 2);
      this.logger.warn(
        { err: end.reason, channel: this.channel },
        `change feed: AppSync Events connection ended; reconnecting in ${pauseMs} ms`,
      );
      await this.sleep(pauseMs);
      backoffMs = Math.min(backoffMs * 2, this.maxBackoffMs);
    }
    started();
  }

  /** Signed headers for a POST of `body` to the API's HTTP endpoint, as IAM authorization expects them. */
  private async sign(body: string): Promise<Record<string, string>> {
    const host = signingHost(this.options.url);
    const request = new HttpRequest({
      method: 'POST',
      protocol: 'https:',
      hostname: host,
      path: '/event',
      headers: { ...SIGNED_BASE_HEADERS, host },
      body,
    });
    return (await this.signer.sign(request)).headers;
  }

  /** One connection, from opening to its end; resolves (never rejects) with why it ended. */
  private async session(onSubscribed: () => void): Promise<SessionEnd> {
    let connectHeaders: Record<string, string>;
    let subscribeHeaders: Record<string, string>;
    try {
      connectHeaders = await this.sign('{}');
      subscribeHeaders = await this.sign(JSON.stringify({ channel: this.channel }));
    } catch (error) {
      return { subscribed: false, reason: new Error('credentials unavailable for signing', { cause: error }) };
    }
    if (this.stopped) return { subscribed: false, reason: new Error('stopped') };

    return new Promise<SessionEnd>((resolve) => {
      const header = Buffer.from(JSON.stringify(connectHeaders)).toString('base64url');
      let socket: SocketLike;
      try {
        socket = new this.WebSocket(this.options.url.href, [APPSYNC_EVENTS_SUBPROTOCOL, `header-${header}`]);
      } catch (error) {
        resolve({ subscribed: false, reason: error as Error });
        return;
      }
      const subscriptionId = randomUUID();
      let subscribed = false;
      let keepAliveMs = DEFAULT_KEEP_ALIVE_TIMEOUT_MS;
      let ended = false;
      let timer: NodeJS.Timeout | undefined;
      const end = (reason: Error) => {
        if (ended) return;
        ended = true;
        clearTimeout(timer);
        this.endSession = undefined;
        try {
          socket.close(1000);
        } catch {
          // Already closing: nothing to release.
        }
        resolve({ subscribed, reason });
      };
      const expectWithin = (ms: number, what: string) => {
        clearTimeout(timer);
        timer = setTimeout(() => end(new Error(`no ${what} within ${ms} ms`)), ms);
      };
      this.endSession = () => end(new Error('stopped'));
      expectWithin(this.handshakeTimeoutMs, 'connection_ack');

      socket.addEventListener('open', () => socket.send(JSON.stringify({ type: 'connection_init' })));
      socket.addEventListener('close', (event) =>
        end(new Error(`connection closed (${event.code}${event.reason ? `: ${event.reason}` : ''})`)),
      );
      // The close event that follows carries the code; an error alone (a refused upgrade) ends it too.
      socket.addEventListener('error', () => end(new Error('connection failed')));
      socket.addEventListener('message', ({ data }) => {
        if (typeof data !== 'string') return;
        let message: Record<string, unknown>;
        try {
          message = JSON.parse(data) as Record<string, unknown>;
        } catch {
          this.logger.warn('change feed: AppSync Events sent a message that is not JSON; ignored');
          return;
        }
        switch (message.type) {
          case 'connection_ack':
            if (typeof message.connectionTimeoutMs === 'number' && message.connectionTimeoutMs > 0)
              keepAliveMs = message.connectionTimeoutMs;
            socket.send(
              JSON.stringify({
                type: 'subscribe',
                id: subscriptionId,
                channel: this.channel,
                authorization: subscribeHeaders,
              }),
            );
            expectWithin(this.handshakeTimeoutMs, 'subscribe_success');
            return;
          case 'subscribe_success':
            if (message.id !== subscriptionId) return;
            subscribed = true;
            this.logger.info({ channel: this.channel }, 'change feed subscribed (AppSync Events)');
            onSubscribed();
            expectWithin(keepAliveMs, 'keep-alive');
            return;
          case 'ka':
            // The service promises one within connectionTimeoutMs; silence longer than that is a dead link.
            if (subscribed) expectWithin(keepAliveMs, 'keep-alive');
            return;
          case 'data':
            if (message.id !== subscriptionId) return;
            if (subscribed) expectWithin(keepAliveMs, 'keep-alive');
            this.handOn(message.event);
            return;
          case 'broadcast_error':
            // Some events of the channel were not delivered to this connection: heartbeats cover them.
            this.logger.warn({ errors: message.errors }, 'change feed: AppSync Events dropped events for this task');
            return;
          case 'connection_error':
          case 'subscribe_error':
          case 'error':
            end(new Error(`${message.type}: ${JSON.stringify(message.errors ?? message.payload ?? null)}`));
            return;
          default:
            return;
        }
      });
    });
  }

  private handOn(raw: unknown): void {
    let event: StreamTerminated;
    try {
      event = publishedTermination.parse(typeof raw === 'string' ? JSON.parse(raw) : raw);
    } catch (error) {
      this.logger.warn({ err: error }, 'change feed: an AppSync Events message could not be decoded; skipped');
      return;
    }
    try {
      this.deliver(event);
    } catch (error) {
      this.logger.error({ err: error }, 'change feed: delivering an event failed');
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
