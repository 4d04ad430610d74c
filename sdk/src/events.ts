import { isRecord } from './errors.js';
import type { Transport } from './transport.js';
import { backoff, unref, type TimerHandle } from './util.js';

/** The service comments at least every 25 s; silence for this long means a dead connection (a proxy, say). */
const SILENCE_LIMIT_MS = 60_000;
/** A connection that lasted this long was healthy: the next reconnect starts the back-off again. */
const HEALTHY_CONNECTION_MS = 30_000;
const RECONNECT = { baseDelayMs: 1_000, maxDelayMs: 30_000 };

export interface StreamEventHandlers {
  /** A `terminated` event with the 410 body's fields (`reason`, `replacedBy`); the watch is over. */
  terminated(body: Record<string, unknown>): void;
  /** 404 `STREAM_NOT_FOUND` on connect: the service does not hold the stream as live. The watch is over. */
  notLive(): void;
  /** The service has no event stream (404 `NOT_FOUND`, 405, 501): heartbeats alone carry the news. */
  unsupported(): void;
}

/** One parsed Server-Sent Event. */
export interface ServerSentEvent {
  event: string;
  data: string;
}

/**
 * Splits a `text/event-stream` into events and comments (WHATWG HTML, "Parsing an event stream"). Fed
 * chunks as they arrive; lines may be split anywhere.
 */
export class EventStreamParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private sawCR = false;

  constructor(
    private readonly onEvent: (event: ServerSentEvent) => void,
    private readonly onComment: (text: string) => void = () => undefined,
  ) {}

  push(chunk: string): void {
    let text = chunk;
    // A CRLF split across two chunks: the LF belongs to the line the CR ended.
    if (this.sawCR && text.startsWith('\n')) text = text.slice(1);
    this.sawCR = text.endsWith('\r');
    this.buffer += text;
    const lines = this.buffer.split(/\r\n|\r|\n/);
    this.buffer = lines.pop() ?? '';
    for (const line of lines) this.line(line);
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) this.onEvent({ event: this.event || 'message', data: this.data.join('\n') });
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return this.onComment(line.slice(1).trim());
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
  }
}

/**
 * Watches `GET /streams/events` for one stream with `fetch` (so the bearer header goes along; `EventSource`
 * cannot send one), reconnecting with back-off until closed, a `terminated` event arrives, or the service
 * says the stream is not live. Returns the function that closes it.
 */
export function watchStreamEvents(
  transport: Transport,
  userId: string,
  streamId: string,
  handlers: StreamEventHandlers,
): () => void {
  const path = `/streams/events?userId=${encodeURIComponent(userId)}&streamId=${encodeURIComponent(streamId)}`;
  let closed = false;
  let failures = 0;
  let controller: AbortController | undefined;
  let retryTimer: TimerHandle | undefined;

  const finish = (): void => {
    closed = true;
    controller?.abort();
  };

  const connect = async (): Promise<void> => {
    retryTimer = undefined;
    if (closed) return;
    const attempt = new AbortController();
    controller = attempt;
    let silence: TimerHandle | undefined;
    const heard = (): void => {
      if (silence !== undefined) clearTimeout(silence);
      silence = setTimeout(() => attempt.abort(), SILENCE_LIMIT_MS);
      unref(silence);
    };
    let connectedAt: number | undefined;
    try {
      const headers = await transport.headers('text/event-stream');
      if (closed) return;
      heard();
      const response = await transport.fetchImpl(transport.baseUrl + path, {
        method: 'GET',
        headers,
        signal: attempt.signal,
        cache: 'no-store',
      });
      if (closed) return;
      if (!response.ok) {
        const body: unknown = await response.json().catch(() => undefined);
        const code = isRecord(body) ? body.code : undefined;
        if (response.status === 404 && code === 'STREAM_NOT_FOUND') {
          finish();
          return handlers.notLive();
        }
        if (response.status === 404 || response.status === 405 || response.status === 501) {
          finish();
          return handlers.unsupported();
        }
        return; // 401, 429, 503...: reconnect below
      }
      if (!response.body) {
        finish();
        return handlers.unsupported();
      }
      connectedAt = Date.now();
      const parser = new EventStreamParser((event) => {
        if (event.event !== 'terminated' || closed) return;
        let body: unknown;
        try {
          body = JSON.parse(event.data);
        } catch {
          body = undefined;
        }
        finish();
        handlers.terminated(isRecord(body) ? body : {});
      }, heard);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done || closed) break;
        heard();
        parser.push(decoder.decode(value, { stream: true }));
      }
      if (closed) await reader.cancel().catch(() => undefined);
    } catch {
      // Network error, silence or close: reconnect below unless closed.
    } finally {
      if (silence !== undefined) clearTimeout(silence);
    }
    if (closed) return;
    failures = connectedAt !== undefined && Date.now() - connectedAt > HEALTHY_CONNECTION_MS ? 1 : failures + 1;
    retryTimer = setTimeout(() => void connect(), backoff(failures, RECONNECT));
    unref(retryTimer);
  };

  void connect();
  return () => {
    finish();
    if (retryTimer !== undefined) clearTimeout(retryTimer);
    retryTimer = undefined;
  };
}
