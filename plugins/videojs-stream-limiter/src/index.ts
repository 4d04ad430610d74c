import {
  bindToMedia,
  type LiveStream,
  type MediaBinding,
  type MediaBindingState,
  type MediaLike,
  type StreamLimiterClient,
  type StreamLimitReachedError,
  type StreamRef,
  type TerminatedInfo,
} from '@stream-limiter/client';

/**
 * The English strings, which are also the keys Video.js translates by: `videojs.addLanguage('fr',
 * { 'Stop that one and watch here': 'Arrêter celui-là et regarder ici' })` localizes them, `labels` replaces
 * them. `{1}` is filled in.
 */
export const DEFAULT_LABELS = {
  refusedTitle: 'You are already watching on {1} screens',
  refusedDescription: 'Stop one of them to watch here.',
  stopAndWatchHere: 'Stop that one and watch here',
  cancel: 'Not now',
  anotherScreen: 'another screen',
  startedAt: 'since {1}',
  replaced: 'Playback moved to {1}.',
  evicted: '{1} started watching, so playback stopped here.',
  removed: 'Playback was stopped from another screen.',
  expired: 'Playback stopped: this screen lost its place.',
  failed: 'Playback could not start: {1}',
  degraded: 'Limit not enforced: the service is degraded',
} as const;

export type StreamLimiterLabels = { [K in keyof typeof DEFAULT_LABELS]: string };

/** The few parts of a Video.js 8 player the plugin uses (so its types do not depend on Video.js internals). */
export interface PlayerLike {
  on(type: string, listener: () => void): void;
  off(type: string, listener: () => void): void;
  paused(): boolean;
  play(): Promise<void> | undefined;
  pause(): unknown;
  el(): Element;
  addClass(name: string): void;
  removeClass(name: string): void;
  localize(text: string, tokens?: string[], defaultValue?: string): string;
  createModal(content: Element, options?: Record<string, unknown>): ModalLike;
  trigger(event: string | { type: string; [key: string]: unknown }): void;
}

export interface ModalLike {
  close(): void;
  on(type: string, listener: () => void): void;
}

export interface StreamLimiterPluginOptions {
  /** The SDK client (`createStreamLimiterClient`): the plugin makes no network call of its own. */
  limiter: StreamLimiterClient;
  userId: string | (() => string);
  deviceId?: string;
  metadata?: Record<string, string>;
  weight?: number;
  resumeKey?: string;
  labels?: Partial<StreamLimiterLabels>;
  /** How a screen is named in the dialog and the overlay. Default: its `deviceId`, else "another screen". */
  describeStream?: (stream: StreamRef | LiveStream) => string;
}

const CLASS_PREFIX = 'vjs-stream-limiter-';
const STATES: readonly MediaBindingState[] = [
  'idle',
  'admitting',
  'playing',
  'paused',
  'refused',
  'terminated',
  'expired',
  'failed',
];

/** A Video.js player seen as a media element, so the SDK's generic binding drives it. */
function asMedia(player: PlayerLike): MediaLike {
  return {
    get paused() {
      return player.paused();
    },
    play: () => player.play() ?? undefined,
    pause: () => void player.pause(),
    addEventListener: (type, listener) => player.on(type, listener),
    removeEventListener: (type, listener) => player.off(type, listener),
  };
}

/**
 * Binds a player to the limiter: play waits for admission; a 409 opens a dialog listing the other screens
 * with "stop that one and watch here" (the atomic replace); a termination pauses it under an overlay naming
 * who took over. State shows as a `vjs-stream-limiter-<state>` class and a `streamlimiterstate` event.
 * Returns the binding (`play`, `stop`, `state`, `session`).
 */
export function streamLimiter(player: PlayerLike, options: StreamLimiterPluginOptions): MediaBinding {
  const labels: StreamLimiterLabels = { ...DEFAULT_LABELS, ...options.labels };
  const text = (key: keyof StreamLimiterLabels, ...tokens: string[]): string => player.localize(labels[key], tokens);
  const describe = (stream: StreamRef | LiveStream): string =>
    options.describeStream?.(stream) ?? stream.deviceId ?? text('anotherScreen');
  let modal: ModalLike | undefined;

  const closeModal = (): void => {
    const open = modal;
    modal = undefined;
    open?.close();
  };
  const showModal = (kind: string, content: HTMLElement, label: string): void => {
    closeModal();
    content.classList.add(`${CLASS_PREFIX}${kind}-dialog`, `${CLASS_PREFIX}dialog`);
    const opened = player.createModal(content, { temporary: true, label, pauseOnOpen: false });
    modal = opened;
    opened.on('modalclose', () => {
      if (modal === opened) modal = undefined;
    });
  };

  const offerReplace = (error: StreamLimitReachedError, binding: MediaBinding): void => {
    const title = element('h2', text('refusedTitle', String(error.activeStreams)));
    const list = element('ul');
    for (const stream of error.streams) {
      const button = element('button', text('stopAndWatchHere'));
      button.type = 'button';
      button.dataset.streamId = stream.streamId;
      button.addEventListener('click', () => {
        closeModal();
        void binding.play({ replaceStreamId: stream.streamId });
      });
      const started = new Date(stream.startedAt);
      const since = Number.isNaN(started.getTime()) ? '' : ` (${text('startedAt', started.toLocaleTimeString())})`;
      list.append(element('li', element('span', describe(stream) + since), button));
    }
    const cancel = element('button', text('cancel'));
    cancel.type = 'button';
    cancel.className = `${CLASS_PREFIX}cancel`;
    cancel.addEventListener('click', closeModal);
    showModal(
      'refused',
      element('div', title, element('p', text('refusedDescription')), list, cancel),
      title.textContent ?? '',
    );
  };

  const announce = (message: string, kind: string): void => {
    const content = element('div', element('p', message));
    showModal(kind, content, message);
  };

  const terminatedMessage = (info: TerminatedInfo): string => {
    if (info.reason === 'removed' || !info.replacedBy) return text('removed');
    return text(info.reason, describe(info.replacedBy));
  };

  const showState = (state: MediaBindingState): void => {
    for (const name of STATES) player.removeClass(`${CLASS_PREFIX}${name}`);
    player.addClass(`${CLASS_PREFIX}${state}`);
    player.el().setAttribute('data-stream-limiter-state', state);
    player.trigger({ type: 'streamlimiterstate', state });
  };

  const binding = bindToMedia(asMedia(player), options.limiter, {
    userId: options.userId,
    ...(options.deviceId !== undefined && { deviceId: options.deviceId }),
    ...(options.metadata !== undefined && { metadata: options.metadata }),
    ...(options.weight !== undefined && { weight: options.weight }),
    ...(options.resumeKey !== undefined && { resumeKey: options.resumeKey }),
    onRefused: offerReplace,
    onTerminated: (info) => {
      player.el().setAttribute('data-stream-limiter-terminated-via', info.source);
      announce(terminatedMessage(info), 'terminated');
    },
    onExpired: () => announce(text('expired'), 'expired'),
    onError: (error) => announce(text('failed', error instanceof Error ? error.message : String(error)), 'failed'),
    onStateChange: (state, current) => {
      if (state === 'admitting' || state === 'playing') closeModal();
      showState(state);
      if (state === 'playing') watchDegraded(current);
    },
  });

  let watched: unknown;
  const watchDegraded = (current: MediaBinding): void => {
    const session = current.session;
    if (!session || watched === session) return;
    watched = session;
    const mark = (): void => {
      if (session.degraded) {
        player.addClass(`${CLASS_PREFIX}degraded`);
        player.el().setAttribute('title', text('degraded'));
      } else {
        player.removeClass(`${CLASS_PREFIX}degraded`);
        player.el().removeAttribute('title');
      }
    };
    mark();
    session.on('renewed', mark);
  };

  showState(binding.state);
  player.on('dispose', () => void binding.destroy());
  return binding;
}

/** What `registerStreamLimiter` needs of the `videojs` function. */
export interface VideojsLike {
  registerPlugin(
    name: string,
    plugin: (this: PlayerLike, options: StreamLimiterPluginOptions) => MediaBinding,
  ): unknown;
  getPlugin?(name: string): unknown;
}

/**
 * Registers `player.streamLimiter(options)` on this Video.js. Idempotent. The package entry has no side
 * effects; `import 'videojs-stream-limiter/register'` does this with the `video.js` your bundle resolves.
 */
export function registerStreamLimiter(videojs: VideojsLike): void {
  if (videojs.getPlugin?.('streamLimiter')) return;
  videojs.registerPlugin('streamLimiter', function (this: PlayerLike, options: StreamLimiterPluginOptions) {
    return streamLimiter(this, options);
  });
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  // textContent only: ids and device names from the service are never parsed as HTML.
  const created = document.createElement(tag);
  created.append(...children);
  return created;
}
