import type { StreamLimiterError } from './errors.js';
import type { PageHideMode } from './page-lifecycle.js';
import { defaultResumeStorage, ResumeSlot } from './resume.js';
import { addBody, Session, type StreamSession } from './session.js';
import { mayHaveBeenApplied, Transport } from './transport.js';
import type {
  CheckResult,
  RemoveResult,
  ResumeStorage,
  StartOptions,
  StreamLease,
  StreamLimiterClientOptions,
  UserStreams,
} from './types.js';
import { ignore, randomUuid } from './util.js';

export interface StreamLimiterClient {
  /** Admits a stream (201, or 200 when it was live already) and keeps it alive until stopped or ended. */
  start(options: StartOptions): Promise<StreamSession>;
  /**
   * The preflight before a play button (`POST /streams/check`): whether a stream of that weight would be
   * admitted now, the live streams, and under `evict-oldest` which ones an add would end. Takes no slot.
   */
  check(options: { userId: string; weight?: number; signal?: AbortSignal }): Promise<CheckResult>;
  list(userId: string, options?: { signal?: AbortSignal }): Promise<UserStreams>;
  /** Without `streamId` the service releases the user's stream that expires soonest; that form is never retried after an ambiguous failure. */
  remove(options: { userId: string; streamId?: string | null; signal?: AbortSignal }): Promise<RemoveResult>;
}

export function createStreamLimiterClient(options: StreamLimiterClientOptions): StreamLimiterClient {
  return new Client(options);
}

class Client implements StreamLimiterClient {
  private readonly transport: Transport;
  /** undefined: the default, which depends on whether the session resumes (see StartOptions.resumeKey). */
  private readonly releaseOnPageHide: PageHideMode | undefined;
  private readonly generateStreamId: () => string;
  private readonly events: boolean;
  private readonly resumeStorage: ResumeStorage | undefined;

  constructor(options: StreamLimiterClientOptions) {
    this.transport = new Transport(options);
    const release = options.releaseOnPageHide;
    this.releaseOnPageHide = release === undefined ? undefined : release === true ? 'pagehide' : release;
    this.generateStreamId = options.generateStreamId ?? randomUuid;
    this.events = options.events ?? true;
    this.resumeStorage = options.resumeStorage ?? defaultResumeStorage();
  }

  async start(options: StartOptions): Promise<StreamSession> {
    const resume =
      options.resumeKey === undefined
        ? undefined
        : new ResumeSlot(this.resumeStorage, options.resumeKey, options.userId);
    // Our own id makes the add idempotent: a retry after a 503 or a lost answer renews (200) instead of
    // taking a second slot. A stored one makes a reload renew its own lease the same way.
    const streamId = options.streamId ?? resume?.read() ?? this.generateStreamId();
    const body = addBody({ ...options, streamId });
    let ambiguous = false;
    try {
      const answer = await this.transport.call<StreamLease>('POST', '/streams/add', {
        body,
        signal: options.signal,
        idempotent: true,
        onFailedAttempt: (error: StreamLimiterError) => {
          ambiguous ||= mayHaveBeenApplied(error);
        },
      });
      return new Session(
        this.transport,
        {
          userId: options.userId,
          streamId,
          deviceId: options.deviceId,
          metadata: options.metadata,
          weight: options.weight,
        },
        answer,
        {
          // A resumable session keeps its lease over a reload: releasing on pagehide would end it first.
          pageHide: this.releaseOnPageHide ?? (resume ? false : 'pagehide'),
          events: this.events,
          resume,
        },
      );
    } catch (error) {
      // An attempt may have been admitted while its answer was lost (or while we stopped listening): give
      // the slot back rather than block the user for a lease. Best effort, one try.
      if (ambiguous || options.signal?.aborted) {
        this.transport
          .callOnce('POST', '/streams/remove', { body: { userId: options.userId, streamId } })
          .catch(ignore);
      }
      throw error;
    }
  }

  async check(options: { userId: string; weight?: number; signal?: AbortSignal }): Promise<CheckResult> {
    const body: Record<string, unknown> = { userId: options.userId };
    if (options.weight !== undefined) body.weight = options.weight;
    // It writes nothing, so any failure may be retried.
    const answer = await this.transport.call<CheckResult>('POST', '/streams/check', {
      body,
      signal: options.signal,
      idempotent: true,
    });
    return answer.body;
  }

  async list(userId: string, options: { signal?: AbortSignal } = {}): Promise<UserStreams> {
    const answer = await this.transport.call<UserStreams>('GET', `/users/${encodeURIComponent(userId)}/streams`, {
      signal: options.signal,
      idempotent: true,
    });
    return answer.body;
  }

  async remove(options: { userId: string; streamId?: string | null; signal?: AbortSignal }): Promise<RemoveResult> {
    const hasStreamId = typeof options.streamId === 'string';
    const answer = await this.transport.call<RemoveResult>('POST', '/streams/remove', {
      body: hasStreamId ? { userId: options.userId, streamId: options.streamId } : { userId: options.userId },
      signal: options.signal,
      // Without a streamId a repeat could release a second stream.
      idempotent: hasStreamId,
    });
    return answer.body;
  }
}
