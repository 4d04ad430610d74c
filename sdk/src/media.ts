import type { StreamLimiterClient } from './client.js';
import { StreamLimitReachedError } from './errors.js';
import type { ExpiredInfo, StreamSession, TerminatedInfo } from './session.js';
import { report } from './util.js';

/**
 * What the binding needs of a player: an `HTMLMediaElement` fits (native `<video>`, and the element hls.js,
 * Shaka or dash.js drive), and so does a thin adapter over a player object such as Video.js's.
 */
export interface MediaLike {
  readonly paused: boolean;
  play(): Promise<void> | void;
  pause(): void;
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

/**
 * - `idle`: no stream (never played, ended, or stopped).
 * - `admitting`: play was pressed; the element is held paused until the service answers.
 * - `playing` / `paused`: admitted; a pause stops heartbeats, and a play after a pause longer than the
 *   lease admits the stream again.
 * - `refused`: 409; the element stays paused (offer a replace: `binding.play({ replaceStreamId })`).
 * - `terminated` / `expired`: the service ended the stream; paused until the user presses play again.
 * - `failed`: the start failed otherwise (network, 503 after retries, 401...).
 */
export type MediaBindingState =
  'idle' | 'admitting' | 'playing' | 'paused' | 'refused' | 'terminated' | 'expired' | 'failed';

export interface BindToMediaOptions {
  /** The viewer; a function when it can change between plays (a profile switch). */
  userId: string | (() => string);
  deviceId?: string;
  metadata?: Record<string, string>;
  weight?: number;
  /** See `StartOptions.resumeKey`: a reload of the page renews this player's own lease. */
  resumeKey?: string;
  /** 409 on play (or on a re-admission): show `error.streams` and call `binding.play({ replaceStreamId })`. */
  onRefused?: (error: StreamLimitReachedError, binding: MediaBinding) => void;
  /** Removed, replaced or evicted elsewhere: the element is paused; say who took over (`info.replacedBy`). */
  onTerminated?: (info: TerminatedInfo, binding: MediaBinding) => void;
  /** The slot was lost otherwise; the element is paused. */
  onExpired?: (info: ExpiredInfo, binding: MediaBinding) => void;
  /** A start that failed for another reason than the limit; the element is paused. */
  onError?: (error: unknown, binding: MediaBinding) => void;
  onStateChange?: (state: MediaBindingState, binding: MediaBinding) => void;
}

export interface MediaBinding {
  readonly state: MediaBindingState;
  /** The current session, while there is one. */
  readonly session: StreamSession | undefined;
  /** Admits the stream (optionally ending `replaceStreamId` in the same atomic step) and plays. */
  play(options?: { replaceStreamId?: string }): Promise<void>;
  /** Releases the slot and pauses. */
  stop(): Promise<void>;
  /** Stops and removes every listener from the element. */
  destroy(): Promise<void>;
}

/**
 * Gates playback of any media element on admission: `play` waits for the service, a 409 keeps it paused,
 * `terminated` pauses it, `ended`/`emptied` release the slot, a pause stops heartbeats (the lease lapses if
 * the pause outlasts it, and the next play admits again). The page-hide release is the session's own.
 */
export function bindToMedia(media: MediaLike, limiter: StreamLimiterClient, options: BindToMediaOptions): MediaBinding {
  let state: MediaBindingState = 'idle';
  let session: StreamSession | undefined;
  let admitting: Promise<void> | undefined;
  let destroyed = false;

  const setState = (next: MediaBindingState): void => {
    if (next === state) return;
    state = next;
    if (options.onStateChange) call(() => options.onStateChange?.(next, binding));
  };
  const call = (fn: () => void): void => {
    try {
      fn();
    } catch (error) {
      report(error);
    }
  };
  const hold = (next: MediaBindingState): void => {
    // The state first: the `pause` event this causes must not read as the viewer's pause.
    setState(next);
    if (!media.paused) media.pause();
  };
  const playMedia = async (): Promise<void> => {
    try {
      await media.play();
    } catch {
      // The autoplay policy refused, or a pause overtook it: admitted but not playing, so hold the slot the
      // way a viewer's pause does (no heartbeats) until the viewer presses play.
      if (state === 'playing' && media.paused && session?.state === 'active') {
        session.pause();
        setState('paused');
      }
    }
  };
  const userId = (): string => (typeof options.userId === 'function' ? options.userId() : options.userId);

  const refused = (error: StreamLimitReachedError): void => {
    hold('refused');
    if (options.onRefused) call(() => options.onRefused?.(error, binding));
  };

  const watch = (current: StreamSession): void => {
    current.on('terminated', (info) => {
      if (session !== current) return;
      hold('terminated');
      if (options.onTerminated) call(() => options.onTerminated?.(info, binding));
    });
    current.on('expired', (info) => {
      if (session !== current) return;
      if (info.reason === 'limit-reached' && info.error instanceof StreamLimitReachedError) return refused(info.error);
      hold('expired');
      if (options.onExpired) call(() => options.onExpired?.(info, binding));
    });
  };

  const admit = (replaceStreamId?: string): Promise<void> => {
    if (admitting) return admitting;
    hold('admitting');
    admitting = (async () => {
      const previous = session;
      session = undefined;
      if (previous && (previous.state === 'active' || previous.state === 'paused')) await previous.stop().catch(report);
      try {
        const started = await limiter.start({
          userId: userId(),
          ...(options.deviceId !== undefined && { deviceId: options.deviceId }),
          ...(options.metadata !== undefined && { metadata: options.metadata }),
          ...(options.weight !== undefined && { weight: options.weight }),
          ...(options.resumeKey !== undefined && { resumeKey: options.resumeKey }),
          ...(replaceStreamId !== undefined && { replaceStreamId }),
        });
        if (destroyed) {
          await started.stop().catch(report);
          return;
        }
        session = started;
        watch(started);
        setState('playing');
        await playMedia();
      } catch (error) {
        if (error instanceof StreamLimitReachedError) return refused(error);
        hold('failed');
        if (options.onError) call(() => options.onError?.(error, binding));
        else report(error);
      }
    })().finally(() => {
      admitting = undefined;
    });
    return admitting;
  };

  const onPlay = (): void => {
    // A play event the element has already paused after (a hold, or the viewer) is stale.
    if (destroyed || media.paused) return;
    // First: the binding's own play() after admission lands here while `admitting` is still pending.
    if (session?.state === 'active') return setState('playing');
    if (admitting) return hold('admitting');
    if (session?.state === 'paused') {
      const current = session;
      if (current.remainingMs > 0) {
        // Still our slot: play on at once; a 410 or a refused re-add pauses it through the listeners.
        setState('playing');
        current.resume().catch(() => undefined);
        return;
      }
      // The pause outlasted the lease: the slot may be someone else's by now, so wait for the service.
      hold('admitting');
      admitting = current
        .resume()
        .then(
          () => {
            if (session !== current) return;
            setState('playing');
            return playMedia();
          },
          () => undefined, // the listeners have said why
        )
        .finally(() => {
          admitting = undefined;
        });
      return;
    }
    void admit();
  };

  const onPause = (): void => {
    // Only the viewer's pause: the binding's own holds set another state first, and the pause event of a
    // hold that admission already undid arrives while the element plays again.
    if (state !== 'playing' || session?.state !== 'active' || !media.paused) return;
    session.pause();
    setState('paused');
  };

  const onEnd = (): void => {
    const current = session;
    session = undefined;
    if (state !== 'refused' && state !== 'terminated' && state !== 'expired') setState('idle');
    if (current && (current.state === 'active' || current.state === 'paused')) current.stop().catch(report);
  };

  media.addEventListener('play', onPlay);
  media.addEventListener('pause', onPause);
  media.addEventListener('ended', onEnd);
  media.addEventListener('emptied', onEnd);

  const binding: MediaBinding = {
    get state() {
      return state;
    },
    get session() {
      return session;
    },
    play: async (playOptions = {}) => {
      await admit(playOptions.replaceStreamId);
    },
    stop: async () => {
      const current = session;
      session = undefined;
      hold('idle');
      if (current && (current.state === 'active' || current.state === 'paused')) await current.stop();
    },
    destroy: async () => {
      destroyed = true;
      media.removeEventListener('play', onPlay);
      media.removeEventListener('pause', onPause);
      media.removeEventListener('ended', onEnd);
      media.removeEventListener('emptied', onEnd);
      await binding.stop();
    },
  };

  // A player that autoplayed before it was bound is gated like any other play.
  if (!media.paused) onPlay();
  return binding;
}
