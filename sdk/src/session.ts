import {
  asLimiterError,
  StreamLimiterError,
  StreamLimitReachedError,
  StreamTerminatedError,
  type TerminationReason,
} from './errors.js';
import { watchStreamEvents } from './events.js';
import { attachPageLifecycle, type PageHideMode } from './page-lifecycle.js';
import type { ResumeSlot } from './resume.js';
import { isRetryableInBackground, retryDelay, type Answer, type Transport } from './transport.js';
import type { StreamLease, StreamRef } from './types.js';
import { backoff, report, unref, type TimerHandle } from './util.js';

const DEFAULT_HEARTBEAT_SECONDS = 30;
const MAX_LEASE_MS = 86_400_000;

/**
 * - `active`: admitted and heartbeating.
 * - `paused`: {@link StreamSession.pause}d: no heartbeats; the lease lapses on its own unless resumed in time.
 * - `suspended`: released while the page is hidden or in the back/forward cache; re-added when shown.
 * - `stopped`: stopped by the app. `terminated` / `expired`: ended by the service (see the events).
 */
export type StreamSessionState = 'active' | 'paused' | 'suspended' | 'stopped' | 'terminated' | 'expired';

export interface RenewedInfo {
  lease: StreamLease;
  /** `'re-add'` when the service had forgotten the stream (404) and it was admitted again. */
  via: 'heartbeat' | 're-add' | 'resume';
}

export interface TerminatedInfo {
  reason: TerminationReason;
  /** For `replaced` and `evicted`: the stream that took the slot. */
  replacedBy?: StreamRef;
  /** How the news arrived: pushed on the event stream, or answered to a heartbeat (410). */
  source: 'events' | 'heartbeat';
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
  /** Removed elsewhere, replaced or evicted: stop playback, do not start again automatically. */
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
  readonly weight: number | undefined;
  /** The latest lease the service answered. */
  readonly lease: StreamLease;
  readonly state: StreamSessionState;
  /** The latest answer came from a store in `open` failure mode: the limit is not enforced right now. */
  readonly degraded: boolean;
  /** Milliseconds (local clock) until the service stops counting the lease if nothing renews it; 0 once lapsed. */
  readonly remainingMs: number;
  /** Returns a function that removes the listener. */
  on<E extends keyof StreamSessionEventMap>(event: E, listener: StreamSessionListener<E>): () => void;
  off<E extends keyof StreamSessionEventMap>(event: E, listener: StreamSessionListener<E>): void;
  /**
   * Stops heartbeats but keeps the slot: the lease lapses after its last granted lease unless {@link resume}d
   * first. For a paused player, so that a pause longer than the lease stops counting against the user.
   */
  pause(): void;
  /**
   * Back from {@link pause}: a heartbeat while the lease lives, else the same streamId is added again. Resolves
   * once renewed; rejects when the session ends instead (`StreamTerminatedError`, `StreamLimitReachedError`...).
   */
  resume(): Promise<void>;
  /**
   * Stops heartbeats and releases the slot (`POST /streams/remove`). Idempotent: later calls return the
   * same promise. No request is sent when the service already ended the stream (410, or a refused re-add).
   * The session is stopped locally even when the release fails (then the promise rejects and the lease
   * lapses on its own).
   */
  stop(): Promise<void>;
}

export interface SessionIdentity {
  userId: string;
  streamId: string;
  deviceId: string | undefined;
  metadata: Record<string, string> | undefined;
  weight: number | undefined;
}

export interface SessionSettings {
  pageHide: PageHideMode;
  events: boolean;
  resume: ResumeSlot | undefined;
}

type Listeners = { [E in keyof StreamSessionEventMap]: Set<StreamSessionListener<E>> };

/** The heartbeat loop of one admitted stream. Created by `start()`. */
export class Session implements StreamSession {
  readonly userId: string;
  readonly streamId: string;
  readonly deviceId: string | undefined;
  readonly weight: number | undefined;
  private readonly metadata: Record<string, string> | undefined;
  private currentLease: StreamLease;
  private currentState: StreamSessionState = 'active';
  /** Local-clock time after which the service no longer counts the lease. */
  private deadline = 0;
  private timer: TimerHandle | undefined;
  /** Bumped whenever the session stops, pauses, suspends or ends, so that late answers are ignored. */
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
  private closeEvents: (() => void) | undefined;
  /** The service has no event stream: do not ask again. */
  private eventsUnsupported = false;
  private lastNotLiveAt = -Infinity;

  constructor(
    private readonly transport: Transport,
    identity: SessionIdentity,
    answer: Answer<StreamLease>,
    private readonly settings: SessionSettings,
  ) {
    this.userId = identity.userId;
    this.streamId = identity.streamId;
    this.deviceId = identity.deviceId;
    this.metadata = identity.metadata;
    this.weight = identity.weight;
    this.currentLease = answer.body;
    this.settings.resume?.write(this.streamId);
    this.accept(answer);
    this.detachPage = attachPageLifecycle(settings.pageHide, { hide: () => this.hide(), show: () => this.show() });
  }

  get lease(): StreamLease {
    return this.currentLease;
  }

  get state(): StreamSessionState {
    return this.currentState;
  }

  get degraded(): boolean {
    return this.currentLease.degraded === true;
  }

  get remainingMs(): number {
    return Math.max(0, this.deadline - Date.now());
  }

  on<E extends keyof StreamSessionEventMap>(event: E, listener: StreamSessionListener<E>): () => void {
    this.listeners[event].add(listener);
    return () => this.off(event, listener);
  }

  off<E extends keyof StreamSessionEventMap>(event: E, listener: StreamSessionListener<E>): void {
    this.listeners[event].delete(listener);
  }

  pause(): void {
    if (this.currentState !== 'active') return;
    this.currentState = 'paused';
    this.quiesce();
  }

  resume(): Promise<void> {
    if (this.currentState === 'active') return Promise.resolve();
    if (this.currentState !== 'paused') {
      return Promise.reject(
        new StreamLimiterError(`session is ${this.currentState}`, { status: 0, code: 'CLIENT_ERROR' }),
      );
    }
    const outcome = this.nextOutcome();
    this.currentState = 'active';
    this.failures = 0;
    // Within the lease a heartbeat renews it (or learns of a 410); after it, the stream must be admitted again.
    if (Date.now() >= this.deadline) this.readd = { via: 'resume', since: Date.now() };
    this.beat();
    return outcome;
  }

  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    const wasLive = !this.serverEnded;
    if (this.currentState === 'active' || this.currentState === 'suspended' || this.currentState === 'paused') {
      this.currentState = 'stopped';
    }
    this.halt();
    const pending = this.inFlight;
    this.stopping = (async () => {
      // Let an add in flight land first, so that our remove cannot overtake it and leave a live lease.
      await pending;
      if (!wasLive) return;
      await this.transport.call('POST', '/streams/remove', {
        body: { userId: this.userId, streamId: this.streamId },
        idempotent: true,
      });
    })();
    return this.stopping;
  }

  /** Resolves on the next renewal, rejects on the end of the session. */
  private nextOutcome(): Promise<void> {
    return new Promise((resolve, reject) => {
      const offs = [
        this.on('renewed', () => done(() => resolve())),
        this.on('terminated', ({ error }) => done(() => reject(error))),
        this.on('expired', ({ error }) => done(() => reject(error))),
      ];
      const done = (settle: () => void): void => {
        offs.forEach((off) => off());
        settle();
      };
    });
  }

  private emit<E extends keyof StreamSessionEventMap>(event: E, payload: StreamSessionEventMap[E]): void {
    for (const listener of [...this.listeners[event]]) {
      try {
        listener(payload);
      } catch (error) {
        report(error);
      }
    }
  }

  /** Takes a 2xx lease answer and plans the next heartbeat from it: every answer may change both. */
  private accept(answer: Answer<StreamLease>): void {
    const lease = answer.body;
    this.currentLease = lease;
    this.failures = 0;
    this.readd = undefined;
    this.deadline = localDeadline(answer);
    this.schedule(heartbeatMs(lease));
    this.openEvents();
  }

  private openEvents(): void {
    if (!this.settings.events || this.eventsUnsupported || this.closeEvents || this.currentState !== 'active') return;
    const generation = this.generation;
    this.closeEvents = watchStreamEvents(this.transport, this.userId, this.streamId, {
      terminated: (body) => {
        this.closeEvents = undefined;
        if (generation !== this.generation || this.currentState !== 'active') return;
        const error = new StreamTerminatedError('GET /streams/events: terminated', {
          status: 410,
          code: 'STREAM_TERMINATED',
          body: { ...body, code: 'STREAM_TERMINATED', status: 410 },
        });
        this.terminate(error, 'events');
      },
      notLive: () => {
        this.closeEvents = undefined;
        if (generation !== this.generation || this.currentState !== 'active') return;
        // Heartbeats are the truth: ask now (a 410 ends the session, a 404 re-adds), but at most once an
        // interval, so a service that lists a stream its event stream does not know cannot spin us.
        const now = Date.now();
        if (now - this.lastNotLiveAt < heartbeatMs(this.currentLease)) return;
        this.lastNotLiveAt = now;
        if (this.inFlight === undefined) this.beat();
      },
      unsupported: () => {
        this.closeEvents = undefined;
        this.eventsUnsupported = true;
      },
    });
  }

  private schedule(delayMs: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.beat(), delayMs);
    // Heartbeats alone should not keep a Node process alive.
    unref(this.timer);
  }

  private beat(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
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
      answer = await this.transport.callOnce<StreamLease>('POST', '/streams/heartbeat', {
        body: { userId: this.userId, streamId: this.streamId },
      });
    } catch (caught) {
      if (generation !== this.generation) return;
      const error = asLimiterError(caught);
      if (error.status === 404 && error.code === 'STREAM_NOT_FOUND') {
        // The lease lapsed (or was never seen, or was granted in degraded mode): one add of the same streamId.
        // A 410 is the other case, where re-adding would fight the user's own "stop" or "watch there".
        this.readd = { via: 're-add', since: Date.now() };
        this.failures = 0;
        return this.addAgain(generation, 're-add');
      }
      if (error instanceof StreamTerminatedError) return this.terminate(error, 'heartbeat');
      if (isRetryableInBackground(error)) {
        this.failures++;
        this.emit('error', error);
        if (generation !== this.generation) return;
        if (Date.now() >= this.deadline) return this.end('expired', { reason: 'lease-lapsed', error });
        // Sooner than the next regular tick, but never before the service's Retry-After.
        const delay =
          error.retryAfterMs ?? Math.min(backoff(this.failures, this.transport.retry), heartbeatMs(this.currentLease));
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

  /** Adds the same streamId again: after a 404, after a long pause, or when the page is shown again. */
  private async addAgain(generation: number, via: 're-add' | 'resume'): Promise<void> {
    const readd = this.readd ?? { via, since: Date.now() };
    this.readd = readd;
    let answer: Answer<StreamLease>;
    try {
      // No replaceStreamId: a re-add must never end another of the user's streams.
      answer = await this.transport.callOnce<StreamLease>('POST', '/streams/add', {
        body: addBody({
          userId: this.userId,
          streamId: this.streamId,
          deviceId: this.deviceId,
          metadata: this.metadata,
          weight: this.weight,
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
        const policy = this.transport.retry;
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

  private terminate(error: StreamTerminatedError, source: TerminatedInfo['source']): void {
    this.serverEnded = true;
    const info: TerminatedInfo = { reason: error.reason, source, error };
    if (error.replacedBy) info.replacedBy = error.replacedBy;
    this.end('terminated', info);
  }

  private end(state: 'terminated', info: TerminatedInfo): void;
  private end(state: 'expired', info: ExpiredInfo): void;
  private end(state: 'terminated' | 'expired', info: TerminatedInfo | ExpiredInfo): void {
    this.currentState = state;
    this.halt();
    if (state === 'terminated') this.emit('terminated', info as TerminatedInfo);
    else this.emit('expired', info as ExpiredInfo);
  }

  /** Cancels timers and the event stream; answers still in flight are ignored. */
  private quiesce(): void {
    this.generation++;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.closeEvents?.();
    this.closeEvents = undefined;
  }

  /** For good: also the page listeners and the resume entry (a reload then starts afresh). */
  private halt(): void {
    this.quiesce();
    this.detachPage?.();
    this.detachPage = undefined;
    this.settings.resume?.clear();
  }

  private hide(): void {
    if (this.currentState !== 'active') return;
    this.currentState = 'suspended';
    this.quiesce();
    this.transport.releaseInBackground(this.userId, this.streamId);
  }

  private show(): void {
    if (this.currentState !== 'suspended') return;
    this.currentState = 'active';
    this.failures = 0;
    this.readd = { via: 'resume', since: Date.now() };
    this.beat();
  }
}

/** The add body with only known fields: the service refuses unknown ones (VALIDATION_ERROR). */
export function addBody(options: {
  userId: string;
  streamId: string;
  deviceId?: string | undefined;
  metadata?: Record<string, string> | undefined;
  weight?: number | undefined;
  replaceStreamId?: string | undefined;
}): Record<string, unknown> {
  const body: Record<string, unknown> = { userId: options.userId, streamId: options.streamId };
  if (options.deviceId !== undefined) body.deviceId = options.deviceId;
  if (options.metadata !== undefined) body.metadata = options.metadata;
  if (options.weight !== undefined) body.weight = options.weight;
  if (options.replaceStreamId !== undefined) body.replaceStreamId = options.replaceStreamId;
  return body;
}

function heartbeatMs(lease: StreamLease): number {
  const seconds = lease.heartbeatIntervalSeconds;
  return (Number.isFinite(seconds) && seconds > 0 ? seconds : DEFAULT_HEARTBEAT_SECONDS) * 1000;
}

/**
 * When the lease stops counting, on the local clock. `expiresAt` is on the server's clock: the `Date`
 * header, when readable, gives the offset (to a second). Without it the clocks are assumed to agree,
 * unless that puts the expiry in the past or beyond any possible lease (a device with a wrong clock);
 * then three heartbeat intervals, the service's default ratio, are assumed.
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
