/** The admission policy in force for a user (contract: Admission policies). */
export type AdmissionPolicy = 'block-new' | 'evict-oldest';

/** A stream another one ended: named in `evicted`, `wouldEvict` and `replacedBy`. */
export interface StreamRef {
  streamId: string;
  deviceId?: string;
}

/** The lease as the service answers it on add (201/200) and heartbeat (200). */
export interface StreamLease {
  userId: string;
  streamId: string;
  activeStreams: number;
  limit: number;
  /** ISO 8601 UTC, server clock. Adaptive leases change it from one answer to the next. */
  expiresAt: string;
  /** Adaptive leases change it too; the session follows every answer. */
  heartbeatIntervalSeconds: number;
  /** Sum of the live streams' weights, this one included. */
  slotsInUse?: number;
  policy?: AdmissionPolicy;
  /** Under `evict-oldest`: the streams this add ended to make room. */
  evicted?: StreamRef[];
  /**
   * `STORE_FAILURE_MODE=open` answered while its store was down: the lease is not stored, so the limit
   * is not enforced until the store is back (the session then falls back into real admission by itself).
   */
  degraded?: boolean;
}

/** One live lease as listed by the service (409 bodies, list and check). */
export interface LiveStream {
  streamId: string;
  deviceId?: string;
  metadata?: Record<string, string>;
  weight?: number;
  startedAt: string;
  expiresAt: string;
}

export interface UserStreams {
  userId: string;
  limit: number;
  activeStreams: number;
  slotsInUse?: number;
  policy?: AdmissionPolicy;
  streams: LiveStream[];
}

/** `POST /streams/check`: whether an add of that weight would be admitted now; takes no slot. */
export interface CheckResult {
  userId: string;
  allowed: boolean;
  activeStreams: number;
  slotsInUse: number;
  limit: number;
  policy: AdmissionPolicy;
  streams: LiveStream[];
  /** Under `evict-oldest` with a full user: the streams an add would end. */
  wouldEvict?: StreamRef[];
}

export interface RemoveResult {
  userId: string;
  /** The released stream; `null` when no `streamId` was sent and nothing was live. */
  streamId: string | null;
  removed: boolean;
  activeStreams: number;
  limit: number;
}

/** How `start()`, `list()`, `check()`, `remove()`, `stop()` and a background re-add retry transient failures. */
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

/** Where `start({ resumeKey })` keeps the stream id; `sessionStorage` fits it. */
export type ResumeStorage = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

/**
 * When a session gives its slot back as the page goes away:
 * - `true` / `'pagehide'` (default without `resumeKey`): on `pagehide` (unload or entering the back/forward
 *   cache); if the page comes back from that cache (`pageshow` with `persisted`), the same streamId is added again.
 * - `'hidden'`: also when `document.visibilityState` becomes `'hidden'` (tab switch, app in background,
 *   often the last event a mobile browser delivers), re-adding the same streamId when visible again.
 *   Do not use it for players that keep playing while hidden (picture-in-picture, background audio).
 * - `false` (default with `resumeKey`): never; the lease then lapses after its last granted lease.
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
  /** See {@link ReleaseOnPageHide}. */
  releaseOnPageHide?: ReleaseOnPageHide;
  /**
   * Where the page-hide release is sent with `navigator.sendBeacon`. A beacon cannot carry an
   * `Authorization` header, so with `AUTH_MODE=jwt` a beacon to the service itself is answered 401;
   * point this at an endpoint of your own that authenticates the beacon otherwise (a cookie, say) and
   * forwards the remove. See the README for the full rule.
   */
  beaconUrl?: string;
  /** Stream ids for `start()` when none is given. Default `crypto.randomUUID()`. */
  generateStreamId?: () => string;
  /**
   * Listen on `GET /streams/events` so that a kicked player stops within a second instead of at its next
   * heartbeat. Default true. Heartbeats stay the source of truth whether or not the event stream is up.
   */
  events?: boolean;
  /** Where `resumeKey` entries live. Default `globalThis.sessionStorage` when there is one. */
  resumeStorage?: ResumeStorage;
}

export interface StartOptions {
  userId: string;
  deviceId?: string;
  /** Defaults to the one stored under `resumeKey`, else a fresh UUID, which every retry of this start reuses. */
  streamId?: string;
  metadata?: Record<string, string>;
  /** Slots the stream takes, 0–10 (default 1 on the service): a UHD stream 2, a trailer 0. */
  weight?: number;
  /** End this live stream of the same user and admit the new one in one atomic step ("watch here instead"). */
  replaceStreamId?: string;
  /**
   * Keep the stream id in `sessionStorage` under this key, so a reload or a crash-and-reopen of the same tab
   * renews its own lease (200) instead of taking a second slot. Cleared when the session stops or ends.
   * Without an explicit `releaseOnPageHide`, such a session does not release on page hide (else the reload
   * would find its stream removed).
   */
  resumeKey?: string;
  /** Abandons the start (back-off included); rejects with the signal's reason. */
  signal?: AbortSignal;
}
