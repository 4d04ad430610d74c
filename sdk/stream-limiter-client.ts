/**
 * Player SDK for the concurrent-stream limiter (see CONTRACT.md).
 *
 * One file with no imports and no runtime dependencies, so that it compiles
 * both under the repository's nodenext/CommonJS settings and to a browser ES
 * module (sdk/tsconfig.json). It only uses `fetch`, timers, `AbortController`,
 * `crypto` and, when present, the page lifecycle globals of a browser.
 */

/** The lease as the service answers it on add (201/200) and heartbeat (200). */
export interface StreamLease {
  userId: string;
  streamId: string;
  activeStreams: number;
  limit: number;
  /** ISO 8601 UTC, server clock. */
  expiresAt: string;
  heartbeatIntervalSeconds: number;
}

/** One live lease as listed by the service (409 bodies and `GET /users/{userId}/streams`). */
export interface LiveStream {
  streamId: string;
  deviceId?: string;
  metadata?: Record<string, string>;
  startedAt: string;
  expiresAt: string;
}

export interface UserStreams {
  userId: string;
  limit: number;
  activeStreams: number;
  streams: LiveStream[];
}

export interface RemoveResult {
  userId: string;
  /** The released stream; `null` when no `streamId` was sent and nothing was live. */
  streamId: string | null;
  removed: boolean;
  activeStreams: number;
  limit: number;
}

/** An RFC 9457 problem body as the service writes it. */
export interface ProblemDetails {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  code?: string;
  [extra: string]: unknown;
}

/** How `start()`, `list()`, `remove()`, `stop()` and a background re-add retry transient failures. */
export interface RetryPolicy {
  /** Attempts in all, the first included. Default 5. */
  maxAttempts: number;
  /** No retry is started that would begin later than this after the first attempt. Default 30000. */
  maxElapsedMs: number;
  /** First back-off when the answer has no `Retry-After`; doubles per attempt, with jitter. Default 1000. */
  baseDelayMs: number;
  /** Cap of one back-off without `Retry-After`. Default 10000. */
  maxDelayMs: number;
}

/** The subset of `fetch` the SDK calls; `globalThis.fetch` fits it. */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/**
 * When a session gives its slot back as the page goes away:
 * - `true` / `'pagehide'` (default): on `pagehide` (unload or entering the back/forward cache);
 *   if the page comes back from that cache (`pageshow` with `persisted`), the same streamId is added again.
 * - `'hidden'`: also when `document.visibilityState` becomes `'hidden'` (tab switch, app in background,
 *   often the last event a mobile browser delivers), re-adding the same streamId when visible again.
 *   Do not use it for players that keep playing while hidden (picture-in-picture, background audio).
 * - `false`: never; the lease then lapses `LEASE_SECONDS` after the last heartbeat.
 */
export type ReleaseOnPageHide = boolean | 'pagehide' | 'hidden';

export interface StreamLimiterClientOptions {
  /** Service root including any `BASE_PATH`, e.g. `https://limiter.example.com` or `https://api.example.com/dev`. */
  baseUrl: string;
  /** Called before every request (retries included), so a refreshed token is picked up; sent as `Authorization: Bearer`. */
  getToken?: () => string | Promise<string>;
  /** Defaults to the global `fetch`. */
  fetch?: FetchLike;
  retry?: Partial<RetryPolicy>;
  /** A request without an answer after this long is aborted and treated like a network error. Default 10000. */
  requestTimeoutMs?: number;
  releaseOnPageHide?: ReleaseOnPageHide;
  /**
   * Where the page-hide release is sent with `navigator.sendBeacon`. A beacon cannot carry an
   * `Authorization` header, so with `AUTH_MODE=jwt` a beacon to the service itself is answered 401;
   * point this at an endpoint of your own that authenticates the beacon otherwise (a cookie, say) and
   * forwards the remove. See the README for the full rule.
   */
  beaconUrl?: string;
  /** Streams ids for `start()` when none is given. Default `crypto.randomUUID()`. */
  generateStreamId?: () => string;
}

export interface StartOptions {
  userId: string;
  deviceId?: string;
  /** Defaults to a fresh UUID, which every retry of this start reuses. */
  streamId?: string;
  metadata?: Record<string, string>;
  /** End this live stream of the same user and admit the new one in one atomic step ("watch here instead"). */
  replaceStreamId?: string;
  /** Abandons the start (back-off included); rejects with the signal's reason. */
  signal?: AbortSignal;
}

export type StreamSessionState = 'active' | 'suspended' | 'stopped' | 'terminated' | 'expired';

export interface RenewedInfo {
  lease: StreamLease;
  /** `'re-add'` when the service had forgotten the stream (404) and it was admitted again. */
  via: 'heartbeat' | 're-add' | 'resume';
}

export interface TerminatedInfo {
  reason: 'removed' | 'replaced';
  replacedBy?: { streamId: string; deviceId?: string };
  error: StreamTerminatedError;
}

export interface ExpiredInfo {
  /**
   * - `limit-reached`: the stream was lost (404) and the re-add was refused with 409; `error` lists the live streams.
   * - `lease-lapsed`: heartbeats kept failing (network, 503, 429, ...) until the lease ran out, or the re-add did.
   * - `rejected`: the service refused a heartbeat or re-add for good (400, 403, an unknown route, ...).
   */
  reason: 'limit-reached' | 'lease-lapsed' | 'rejected';
  error: StreamLimiterError;
}

export interface StreamSessionEventMap {
  renewed: RenewedInfo;
  /** 410: removed elsewhere or replaced; stop playback, do not start again automatically. */
  terminated: TerminatedInfo;
  /** The slot is lost; stop playback (the app may offer to `start()` again). */
  expired: ExpiredInfo;
  /** A background request failed; the session retries it unless `terminated` or `expired` follows. */
  error: StreamLimiterError;
}

export type StreamSessionListener<E extends keyof StreamSessionEventMap> = (payload: StreamSessionEventMap[E]) => void;

export interface StreamSession {
  readonly userId: string;
  readonly streamId: string;
  readonly deviceId: string | undefined;
  /** The latest lease the service answered. */
  readonly lease: StreamLease;
  readonly state: StreamSessionState;
  /** Returns a function that removes the listener. */
  on<E extends keyof StreamSessionEventMap>(event: E, listener: StreamSessionListener<E>): () => void;
  off<E extends keyof StreamSessionEventMap>(event: E, listener: StreamSessionListener<E>): void;
  /**
   * Stops heartbeats and releases the slot (`POST /streams/remove`). Idempotent: later calls return the
   * same promise. No request is sent when the service already ended the stream (410, or a refused re-add).
   * The session is stopped locally even when the release fails (then the promise rejects and the lease
   * lapses on its own).
   */
  stop(): Promise<void>;
}

export interface StreamLimiterClient {
  start(options: StartOptions): Promise<StreamSession>;
  list(userId: string, options?: { signal?: AbortSignal }): Promise<UserStreams>;
  /** Without `streamId` the service releases the user's stream that expires soonest; that form is never retried after an ambiguous failure. */
  remove(options: { userId: string; streamId?: string | null; signal?: AbortSignal }): Promise<RemoveResult>;
}

/**
 * Any failure of a call: an HTTP error answer (`status`, `code` and the problem `body`), or, with
 * `status` 0, a client-side one: `NETWORK_ERROR`, `REQUEST_TIMEOUT`, `INVALID_RESPONSE`, `CLIENT_ERROR`.
 */
export class StreamLimiterError extends Error {
  override name = 'StreamLimiterError';
  readonly status: number;
  readonly code: string;
  readonly body: ProblemDetails | undefined;
  /** From `Retry-After`, when the answer carried one the browser lets us read. */
  readonly retryAfterMs: number | undefined;
  readonly requestId: string | undefined;

  constructor(
    message: string,
    init: {
      status: number;
      code: string;
      body?: ProblemDetails;
      retryAfterMs?: number;
      requestId?: string;
      cause?: unknown;
    },
  ) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    this.body = init.body;
    this.retryAfterMs = init.retryAfterMs;
    this.requestId = init.requestId;
  }
}

/** 409 `STREAM_LIMIT_REACHED`: `streams` are the live leases, so the player can offer to replace one. */
export class StreamLimitReachedError extends StreamLimiterError {
  override name = 'StreamLimitReachedError';
  readonly limit: number;
  readonly activeStreams: number;
  readonly streams: LiveStream[];

  constructor(message: string, init: ConstructorParameters<typeof StreamLimiterError>[1]) {
    super(message, init);
    const body = init.body ?? {};
    this.limit = typeof body.limit === 'number' ? body.limit : 0;
    this.activeStreams = typeof body.activeStreams === 'number' ? body.activeStreams : 0;
    this.streams = Array.isArray(body.streams) ? (body.streams as LiveStream[]) : [];
  }
}

/** 410 `STREAM_TERMINATED`: the stream was removed or replaced; it must not be added again automatically. */
export class StreamTerminatedError extends StreamLimiterError {
  override name = 'StreamTerminatedError';
  readonly reason: 'removed' | 'replaced';
  readonly replacedBy: { streamId: string; deviceId?: string } | undefined;

  constructor(message: string, init: ConstructorParameters<typeof StreamLimiterError>[1]) {
    super(message, init);
    const body = init.body ?? {};
    this.reason = body.reason === 'replaced' ? 'replaced' : 'removed';
    const by = body.replacedBy;
    this.replacedBy =
      isRecord(by) && typeof by.streamId === 'string'
        ? typeof by.deviceId === 'string'
          ? { streamId: by.streamId, deviceId: by.deviceId }
          : { streamId: by.streamId }
        : undefined;
  }
}

const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, maxElapsedMs: 30_000, baseDelayMs: 1_000, maxDelayMs: 10_000 };
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const DEFAULT_HEARTBEAT_SECONDS = 30;
const MAX_LEASE_MS = 86_400_000;

type TimerHandle = ReturnType<typeof setTimeout>;

interface Answer<T> {
  status: number;
  body: T;
  headers: Headers;
  receivedAt: number;
}

interface CallOptions {
  body?: unknown;
  signal?: AbortSignal;
  retry?: RetryPolicy;
  /**
   * Whether repeating the call after an answer that may have been acted on (timeout, network error,
   * 5xx) is safe. Only 429, which the service answers before doing anything, is retried otherwise.
   */
  idempotent?: boolean;
}

export function createStreamLimiterClient(options: StreamLimiterClientOptions): StreamLimiterClient {
  return new Client(options);
}

class Client implements StreamLimiterClient {
  readonly baseUrl: string;
  readonly retry: RetryPolicy;
  readonly releaseOnPageHide: false | 'pagehide' | 'hidden';
  private readonly fetchImpl: FetchLike;
  private readonly getToken: (() => string | Promise<string>) | undefined;
  private readonly requestTimeoutMs: number;
  private readonly beaconUrl: string | undefined;
  private readonly generateStreamId: () => string;
  /** Kept for the page-hide release, which cannot wait for `getToken`. */
  private lastToken: string | undefined;

  constructor(options: StreamLimiterClientOptions) {
    if (typeof options.baseUrl !== 'string' || options.baseUrl === '') throw new TypeError('baseUrl is required');
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    const release = options.releaseOnPageHide ?? true;
    this.releaseOnPageHide = release === true ? 'pagehide' : release;
    // Calling the global through a closure keeps `this` right in browsers ("Illegal invocation").
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.getToken = options.getToken;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.beaconUrl = options.beaconUrl;
    this.generateStreamId = options.generateStreamId ?? randomUuid;
  }

  async start(options: StartOptions): Promise<StreamSession> {
    // Our own id makes the add idempotent: a retry after a 503 or a lost answer renews (200) instead of
    // taking a second slot.
    const streamId = options.streamId ?? this.generateStreamId();
    const body = addBody({ ...options, streamId });
    let ambiguous = false;
    try {
      const answer = await this.call<StreamLease>('POST', '/streams/add', {
        body,
        signal: options.signal,
        idempotent: true,
        onFailedAttempt: (error) => {
          ambiguous ||= mayHaveBeenApplied(error);
        },
      });
      return new Session(
        this,
        { userId: options.userId, streamId, deviceId: options.deviceId, metadata: options.metadata },
        answer,
      );
    } catch (error) {
      // An attempt may have been admitted while its answer was lost (or while we stopped listening): give
      // the slot back rather than block the user for LEASE_SECONDS. Best effort, one try.
      if (ambiguous || options.signal?.aborted) {
        this.callOnce('POST', '/streams/remove', { body: { userId: options.userId, streamId } }).catch(ignore);
      }
      throw error;
    }
  }

  async list(userId: string, options: { signal?: AbortSignal } = {}): Promise<UserStreams> {
    const answer = await this.call<UserStreams>('GET', `/users/${encodeURIComponent(userId)}/streams`, {
      signal: options.signal,
      idempotent: true,
    });
    return answer.body;
  }

  async remove(options: { userId: string; streamId?: string | null; signal?: AbortSignal }): Promise<RemoveResult> {
    const hasStreamId = typeof options.streamId === 'string';
    const answer = await this.call<RemoveResult>('POST', '/streams/remove', {
      body: hasStreamId ? { userId: options.userId, streamId: options.streamId } : { userId: options.userId },
      signal: options.signal,
      // Without a streamId a repeat could release a second stream.
      idempotent: hasStreamId,
    });
    return answer.body;
  }

  /** One request, with retries per the policy (none when `retry.maxAttempts` is 1). */
  async call<T>(
    method: string,
    path: string,
    options: CallOptions & { onFailedAttempt?: (error: StreamLimiterError) => void } = {},
  ): Promise<Answer<T>> {
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
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json' };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (this.getToken) {
      const token = await this.getToken();
      this.lastToken = token;
      headers.authorization = `Bearer ${token}`;
    }
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

interface SessionIdentity {
  userId: string;
  streamId: string;
  deviceId: string | undefined;
  metadata: Record<string, string> | undefined;
}

type Listeners = { [E in keyof StreamSessionEventMap]: Set<StreamSessionListener<E>> };

class Session implements StreamSession {
  readonly userId: string;
  readonly streamId: string;
  readonly deviceId: string | undefined;
  private readonly metadata: Record<string, string> | undefined;
  private currentLease: StreamLease;
  private currentState: StreamSessionState = 'active';
  /** Local-clock time after which the service no longer counts the lease. */
  private deadline = 0;
  private timer: TimerHandle | undefined;
  /** Bumped whenever the session stops, suspends or ends, so that late answers are ignored. */
  private generation = 0;
  private inFlight: Promise<void> | undefined;
  private failures = 0;
  /** Set while the stream must be added again (404, or back from a page hide) rather than heartbeated. */
  private readd: { via: 're-add' | 'resume'; since: number } | undefined;
  private stopping: Promise<void> | undefined;
  private serverEnded = false;
  private readonly listeners: Listeners = {
    renewed: new Set(),
    terminated: new Set(),
    expired: new Set(),
    error: new Set(),
  };
  private detachPage: (() => void) | undefined;

  constructor(
    private readonly client: Client,
    identity: SessionIdentity,
    answer: Answer<StreamLease>,
  ) {
    this.userId = identity.userId;
    this.streamId = identity.streamId;
    this.deviceId = identity.deviceId;
    this.metadata = identity.metadata;
    this.currentLease = answer.body;
    this.accept(answer);
    this.detachPage = this.attachPageLifecycle();
  }

  get lease(): StreamLease {
    return this.currentLease;
  }

  get state(): StreamSessionState {
    return this.currentState;
  }

  on<E extends keyof StreamSessionEventMap>(event: E, listener: StreamSessionListener<E>): () => void {
    this.listeners[event].add(listener);
    return () => this.off(event, listener);
  }

  off<E extends keyof StreamSessionEventMap>(event: E, listener: StreamSessionListener<E>): void {
    this.listeners[event].delete(listener);
  }

  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    const wasLive = !this.serverEnded;
    if (this.currentState === 'active' || this.currentState === 'suspended') this.currentState = 'stopped';
    this.halt();
    const pending = this.inFlight;
    this.stopping = (async () => {
      // Let an add in flight land first, so that our remove cannot overtake it and leave a live lease.
      await pending;
      if (!wasLive) return;
      await this.client.call('POST', '/streams/remove', {
        body: { userId: this.userId, streamId: this.streamId },
        idempotent: true,
      });
    })();
    return this.stopping;
  }

  private emit<E extends keyof StreamSessionEventMap>(event: E, payload: StreamSessionEventMap[E]): void {
    for (const listener of [...this.listeners[event]]) {
      try {
        listener(payload);
      } catch (error) {
        // A failing listener must not stop heartbeats or the other listeners.
        report(error);
      }
    }
  }

  /** Takes a 2xx lease answer and plans the next heartbeat from it. */
  private accept(answer: Answer<StreamLease>): void {
    const lease = answer.body;
    this.currentLease = lease;
    this.failures = 0;
    this.readd = undefined;
    this.deadline = localDeadline(answer);
    this.schedule(heartbeatMs(lease));
  }

  private schedule(delayMs: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.beat(), delayMs);
    // Heartbeats alone should not keep a Node process alive.
    unref(this.timer);
  }

  private beat(): void {
    this.timer = undefined;
    if (this.currentState !== 'active') return;
    const generation = this.generation;
    const run = this.readd ? this.addAgain(generation, this.readd.via) : this.heartbeat(generation);
    const tracked: Promise<void> = run.catch(report).finally(() => {
      if (this.inFlight === tracked) this.inFlight = undefined;
    });
    this.inFlight = tracked;
  }

  private async heartbeat(generation: number): Promise<void> {
    let answer: Answer<StreamLease>;
    try {
      answer = await this.client.callOnce<StreamLease>('POST', '/streams/heartbeat', {
        body: { userId: this.userId, streamId: this.streamId },
      });
    } catch (caught) {
      if (generation !== this.generation) return;
      const error = asLimiterError(caught);
      if (error.status === 404 && error.code === 'STREAM_NOT_FOUND') {
        // The lease lapsed (or was never seen): the contract allows one add of the same streamId.
        // A 410 is the other case, where re-adding would fight the user's own "stop" or "watch there".
        this.readd = { via: 're-add', since: Date.now() };
        this.failures = 0;
        return this.addAgain(generation, 're-add');
      }
      if (error instanceof StreamTerminatedError) {
        this.serverEnded = true;
        const info: TerminatedInfo = { reason: error.reason, error };
        if (error.replacedBy) info.replacedBy = error.replacedBy;
        return this.end('terminated', info);
      }
      if (isRetryableInBackground(error)) {
        this.failures++;
        this.emit('error', error);
        if (generation !== this.generation) return;
        if (Date.now() >= this.deadline) return this.end('expired', { reason: 'lease-lapsed', error });
        // Sooner than the next regular tick, but never before the service's Retry-After.
        const delay =
          error.retryAfterMs ?? Math.min(backoff(this.failures, this.client.retry), heartbeatMs(this.currentLease));
        return this.schedule(delay);
      }
      this.emit('error', error);
      if (generation !== this.generation) return;
      return this.end('expired', { reason: 'rejected', error });
    }
    if (generation !== this.generation) return;
    this.accept(answer);
    this.emit('renewed', { lease: answer.body, via: 'heartbeat' });
  }

  /** Adds the same streamId again: after a 404, or when the page is shown again after a page-hide release. */
  private async addAgain(generation: number, via: 're-add' | 'resume'): Promise<void> {
    const readd = this.readd ?? { via, since: Date.now() };
    this.readd = readd;
    let answer: Answer<StreamLease>;
    try {
      // No replaceStreamId: a re-add must never end another of the user's streams.
      answer = await this.client.callOnce<StreamLease>('POST', '/streams/add', {
        body: addBody({
          userId: this.userId,
          streamId: this.streamId,
          deviceId: this.deviceId,
          metadata: this.metadata,
        }),
      });
    } catch (caught) {
      if (generation !== this.generation) return;
      const error = asLimiterError(caught);
      if (error instanceof StreamLimitReachedError) {
        this.serverEnded = true;
        return this.end('expired', { reason: 'limit-reached', error });
      }
      if (isRetryableInBackground(error)) {
        this.failures++;
        this.emit('error', error);
        if (generation !== this.generation) return;
        const policy = this.client.retry;
        const delay = retryDelay(error, this.failures, policy);
        // The lease is gone already, so the start() budget bounds how long we keep trying.
        if (this.failures >= policy.maxAttempts || Date.now() + delay - readd.since > policy.maxElapsedMs) {
          return this.end('expired', { reason: 'lease-lapsed', error });
        }
        return this.schedule(delay);
      }
      this.emit('error', error);
      if (generation !== this.generation) return;
      return this.end('expired', { reason: 'rejected', error });
    }
    if (generation !== this.generation) return;
    this.accept(answer);
    this.emit('renewed', { lease: answer.body, via });
  }

  private end(state: 'terminated', info: TerminatedInfo): void;
  private end(state: 'expired', info: ExpiredInfo): void;
  private end(state: 'terminated' | 'expired', info: TerminatedInfo | ExpiredInfo): void {
    this.currentState = state;
    this.halt();
    if (state === 'terminated') this.emit('terminated', info as TerminatedInfo);
    else this.emit('expired', info as ExpiredInfo);
  }

  /** Cancels every timer and page listener; answers still in flight are ignored. */
  private halt(): void {
    this.generation++;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.detachPage?.();
    this.detachPage = undefined;
  }

  private suspend(): void {
    if (this.currentState !== 'active') return;
    this.currentState = 'suspended';
    this.generation++;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.client.releaseInBackground(this.userId, this.streamId);
  }

  private resume(): void {
    if (this.currentState !== 'suspended') return;
    this.currentState = 'active';
    this.failures = 0;
    this.readd = { via: 'resume', since: Date.now() };
    this.beat();
  }

  /** Browser only: listens for the page going away; a no-op where there is no `window`/`document`. */
  private attachPageLifecycle(): (() => void) | undefined {
    const mode = this.client.releaseOnPageHide;
    if (mode === false) return undefined;
    if (typeof window === 'undefined' || typeof window.addEventListener !== 'function') return undefined;
    const onPageHide = (): void => this.suspend();
    const onPageShow = (event: Event): void => {
      if ((event as PageTransitionEvent).persisted) this.resume();
    };
    const doc =
      typeof document !== 'undefined' && typeof document.addEventListener === 'function' ? document : undefined;
    const onVisibility = (): void => {
      if (doc?.visibilityState === 'hidden') this.suspend();
      else this.resume();
    };
    window.addEventListener('pagehide', onPageHide);
    window.addEventListener('pageshow', onPageShow);
    if (mode === 'hidden') doc?.addEventListener('visibilitychange', onVisibility);
    return () => {
      window.removeEventListener('pagehide', onPageHide);
      window.removeEventListener('pageshow', onPageShow);
      if (mode === 'hidden') doc?.removeEventListener('visibilitychange', onVisibility);
    };
  }
}

function addBody(options: {
  userId: string;
  streamId: string;
  deviceId?: string | undefined;
  metadata?: Record<string, string> | undefined;
  replaceStreamId?: string | undefined;
}): Record<string, unknown> {
  // Only known fields: the service refuses unknown ones (VALIDATION_ERROR).
  const body: Record<string, unknown> = { userId: options.userId, streamId: options.streamId };
  if (options.deviceId !== undefined) body.deviceId = options.deviceId;
  if (options.metadata !== undefined) body.metadata = options.metadata;
  if (options.replaceStreamId !== undefined) body.replaceStreamId = options.replaceStreamId;
  return body;
}

function errorFromAnswer(
  method: string,
  path: string,
  response: Response,
  body: unknown,
  requestId: string | undefined,
): StreamLimiterError {
  const problem = isRecord(body) ? (body as ProblemDetails) : undefined;
  const code = typeof problem?.code === 'string' ? problem.code : `HTTP_${response.status}`;
  const detail =
    typeof problem?.detail === 'string'
      ? problem.detail
      : typeof problem?.title === 'string'
        ? problem.title
        : response.statusText;
  const message = `${method} ${path}: ${response.status} ${code}${detail ? ` (${detail})` : ''}`;
  const init = {
    status: response.status,
    code,
    body: problem,
    retryAfterMs: parseRetryAfter(response.headers.get('retry-after')),
    requestId,
  };
  if (response.status === 409 && code === 'STREAM_LIMIT_REACHED') return new StreamLimitReachedError(message, init);
  if (response.status === 410 && code === 'STREAM_TERMINATED') return new StreamTerminatedError(message, init);
  return new StreamLimiterError(message, init);
}

/** `Retry-After` as delay-seconds or an HTTP date. */
function parseRetryAfter(value: string | null): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Network trouble, rate limiting, an unavailable store and gateway errors pass; a repeat may succeed. */
function isRetryable(error: StreamLimiterError, idempotent: boolean): boolean {
  if (error.status === 429) return true;
  if (!idempotent) return false;
  return error.code === 'NETWORK_ERROR' || error.code === 'REQUEST_TIMEOUT' || error.status >= 500;
}

/** As {@link isRetryable}, plus 401: `getToken` may hand out a fresh token on the next try. */
function isRetryableInBackground(error: StreamLimiterError): boolean {
  return error.status === 401 || error.code === 'CLIENT_ERROR' || isRetryable(error, true);
}

/** Whether the service may have acted on a request whose answer we did not get or could not trust. */
function mayHaveBeenApplied(error: StreamLimiterError): boolean {
  return error.status === 0 || error.status >= 500;
}

function retryDelay(error: StreamLimiterError, attempt: number, policy: RetryPolicy): number {
  return error.retryAfterMs ?? backoff(attempt, policy);
}

/** Exponential back-off with "equal jitter": between half and all of the doubled delay. */
function backoff(attempt: number, policy: RetryPolicy): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

function heartbeatMs(lease: StreamLease): number {
  const seconds = lease.heartbeatIntervalSeconds;
  return (Number.isFinite(seconds) && seconds > 0 ? seconds : DEFAULT_HEARTBEAT_SECONDS) * 1000;
}

/**
 * When the lease stops counting, on the local clock. `expiresAt` is on the server's clock: the `Date`
 * header, when readable, gives the offset (to a second). Without it the clocks are assumed to agree,
 * unless that puts the expiry in the past or beyond any possible LEASE_SECONDS (a device with a wrong
 * clock); then three heartbeat intervals, the service's default ratio, are assumed.
 */
function localDeadline(answer: Answer<StreamLease>): number {
  const expiresAt = Date.parse(answer.body.expiresAt);
  const serverNow = Date.parse(answer.headers.get('date') ?? '');
  if (!Number.isNaN(expiresAt) && !Number.isNaN(serverNow)) return answer.receivedAt + (expiresAt - serverNow);
  const remaining = expiresAt - answer.receivedAt;
  if (Number.isNaN(remaining) || remaining <= 0 || remaining > MAX_LEASE_MS) {
    return answer.receivedAt + 3 * heartbeatMs(answer.body);
  }
  return expiresAt;
}

function asLimiterError(error: unknown): StreamLimiterError {
  if (error instanceof StreamLimiterError) return error;
  // getToken failing, say: retried in the background like a network error.
  return new StreamLimiterError(`request failed: ${String(error)}`, { status: 0, code: 'CLIENT_ERROR', cause: error });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const onAbort = (): void => {
      clearTimeout(timer);
      if (signal) reject(abortReason(signal));
    };
    // Not unref'd: the caller awaits it, and a Node script must not exit in the middle of start().
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function abortReason(signal: AbortSignal): unknown {
  // `reason` is missing in browsers older than 2022.
  return signal.reason ?? new DOMException('The operation was aborted.', 'AbortError');
}

function unref(timer: TimerHandle): void {
  (timer as unknown as { unref?: () => void }).unref?.();
}

function randomUuid(): string {
  const c = (globalThis as { crypto?: Crypto }).crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  // randomUUID needs a secure context in browsers; getRandomValues does not.
  const bytes = new Uint8Array(16);
  if (c && typeof c.getRandomValues === 'function') c.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function report(error: unknown): void {
  const reportError = (globalThis as { reportError?: (error: unknown) => void }).reportError;
  if (typeof reportError === 'function') reportError(error);
  else console.error(error);
}

function ignore(): void {}
