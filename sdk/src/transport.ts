import { errorFromAnswer, StreamLimiterError } from './errors.js';
import type { FetchLike, RetryPolicy, StreamLimiterClientOptions } from './types.js';
import { abortReason, backoff, DEFAULT_RETRY, ignore, sleep, unref } from './util.js';

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

export interface Answer<T> {
  status: number;
  body: T;
  headers: Headers;
  receivedAt: number;
}

export interface CallOptions {
  body?: unknown;
  signal?: AbortSignal | undefined;
  retry?: RetryPolicy;
  /**
   * Whether repeating the call after an answer that may have been acted on (timeout, network error,
   * 5xx) is safe. Only 429, which the service answers before doing anything, is retried otherwise.
   */
  idempotent?: boolean;
  onFailedAttempt?: (error: StreamLimiterError) => void;
}

/** HTTP to the service: auth header, timeouts, problem+json errors and retries. Shared by client and sessions. */
export class Transport {
  readonly baseUrl: string;
  readonly retry: RetryPolicy;
  readonly fetchImpl: FetchLike;
  readonly requestTimeoutMs: number;
  private readonly getToken: (() => string | Promise<string>) | undefined;
  private readonly beaconUrl: string | undefined;
  /** Kept for the page-hide release, which cannot wait for `getToken`. */
  private lastToken: string | undefined;

  constructor(options: StreamLimiterClientOptions) {
    if (typeof options.baseUrl !== 'string' || options.baseUrl === '') throw new TypeError('baseUrl is required');
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    // Calling the global through a closure keeps `this` right in browsers ("Illegal invocation").
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.getToken = options.getToken;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.beaconUrl = options.beaconUrl;
  }

  /** The request headers every call carries: the bearer token when there is one. */
  async headers(accept: string): Promise<Record<string, string>> {
    const headers: Record<string, string> = { accept };
    if (this.getToken) {
      const token = await this.getToken();
      this.lastToken = token;
      headers.authorization = `Bearer ${token}`;
    }
    return headers;
  }

  /** One request, with retries per the policy (none when `retry.maxAttempts` is 1). */
  async call<T>(method: string, path: string, options: CallOptions = {}): Promise<Answer<T>> {
    const policy = options.retry ?? this.retry;
    const firstAt = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.callOnce<T>(method, path, options);
      } catch (error) {
        if (!(error instanceof StreamLimiterError)) throw error;
        options.onFailedAttempt?.(error);
        if (!isRetryable(error, options.idempotent ?? false)) throw error;
        const delay = retryDelay(error, attempt, policy);
        if (attempt >= policy.maxAttempts || Date.now() + delay - firstAt > policy.maxElapsedMs) throw error;
        await sleep(delay, options.signal);
      }
    }
  }

  /** One attempt: resolves with a 2xx answer, rejects with a {@link StreamLimiterError} otherwise. */
  async callOnce<T>(method: string, path: string, options: CallOptions = {}): Promise<Answer<T>> {
    const { signal } = options;
    if (signal?.aborted) throw abortReason(signal);
    const headers = await this.headers('application/json, application/problem+json');
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.requestTimeoutMs);
    unref(timer);
    const onAbort = (): void => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort);
    try {
      let response: Response;
      let text: string;
      try {
        response = await this.fetchImpl(this.baseUrl + path, {
          method,
          headers,
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
          signal: controller.signal,
        });
        text = await response.text();
      } catch (cause) {
        if (signal?.aborted) throw abortReason(signal);
        if (timedOut) {
          throw new StreamLimiterError(`${method} ${path}: no answer within ${this.requestTimeoutMs} ms`, {
            status: 0,
            code: 'REQUEST_TIMEOUT',
            cause,
          });
        }
        throw new StreamLimiterError(`${method} ${path}: network error`, { status: 0, code: 'NETWORK_ERROR', cause });
      }
      const receivedAt = Date.now();
      const requestId = response.headers.get('x-request-id') ?? undefined;
      let body: unknown;
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch (cause) {
        if (response.ok) {
          throw new StreamLimiterError(`${method} ${path}: answer ${response.status} is not JSON`, {
            status: response.status,
            code: 'INVALID_RESPONSE',
            requestId,
            cause,
          });
        }
        body = undefined;
      }
      if (response.ok) return { status: response.status, body: body as T, headers: response.headers, receivedAt };
      throw errorFromAnswer(method, path, response, body, requestId);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Gives the slot back while the page goes away, without waiting. `sendBeacon` cannot carry an
   * `Authorization` header, so with a token (and no `beaconUrl`) a `keepalive` fetch with the last token
   * is used instead; a beacon otherwise. Either may be dropped by the browser: the lease then lapses.
   */
  releaseInBackground(userId: string, streamId: string): void {
    const payload = JSON.stringify({ userId, streamId });
    const url = this.baseUrl + '/streams/remove';
    if (this.beaconUrl === undefined && this.getToken && this.lastToken !== undefined) {
      try {
        this.fetchImpl(url, {
          method: 'POST',
          keepalive: true,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${this.lastToken}` },
          body: payload,
        }).catch(ignore);
        return;
      } catch {
        // A fetch that refuses keepalive synchronously: fall back to the beacon.
      }
    }
    if (typeof navigator === 'undefined' || typeof navigator.sendBeacon !== 'function') return;
    try {
      navigator.sendBeacon(this.beaconUrl ?? url, new Blob([payload], { type: 'application/json' }));
    } catch {
      // Some browsers refuse a cross-origin JSON beacon; the lease then lapses.
    }
  }
}

/** Network trouble, rate limiting, an unavailable store and gateway errors pass; a repeat may succeed. */
export function isRetryable(error: StreamLimiterError, idempotent: boolean): boolean {
  if (error.status === 429) return true;
  if (!idempotent) return false;
  return error.code === 'NETWORK_ERROR' || error.code === 'REQUEST_TIMEOUT' || error.status >= 500;
}

/** As {@link isRetryable}, plus 401: `getToken` may hand out a fresh token on the next try. */
export function isRetryableInBackground(error: StreamLimiterError): boolean {
  return error.status === 401 || error.code === 'CLIENT_ERROR' || isRetryable(error, true);
}

/** Whether the service may have acted on a request whose answer we did not get or could not trust. */
export function mayHaveBeenApplied(error: StreamLimiterError): boolean {
  return error.status === 0 || error.status >= 500;
}

export function retryDelay(error: StreamLimiterError, attempt: number, policy: RetryPolicy): number {
  return error.retryAfterMs ?? backoff(attempt, policy);
}
