import type { Logger } from 'pino';
import type { ChangeSource, StreamTerminated } from './change-feed';

/** What a subscriber of one stream hears: its termination, or that the instance is closing its streams. */
export type FeedSignal =
  { readonly kind: 'terminated'; readonly event: StreamTerminated } | { readonly kind: 'closing' };

export type Subscriber = (signal: FeedSignal) => void;

export interface TerminationFeedOptions {
  /** Fills in the replacing stream's deviceId when it lives in a display item; undefined when unknown. */
  readonly replacerDevice?: (userId: string, streamId: string) => Promise<string | undefined>;
  readonly logger: Logger;
}

const key = (userId: string, streamId: string) => `${userId}\n${streamId}`;

/**
 * This instance's open event streams, by (userId, streamId), fed by one ChangeSource. It holds no
 * state of its own beyond who listens here: every instance hears every change from the source, and
 * delivers the ones its own connections wait for.
 */
export class TerminationFeed {
  private readonly subscribers = new Map<string, Set<Subscriber>>();
  private readonly logger: Logger;
  private closing = false;

  constructor(
    private readonly source: ChangeSource,
    private readonly options: TerminationFeedOptions,
  ) {
    this.logger = options.logger;
  }

  /** Starts the source; resolves once it reads. Never rejects: a failing source retries on its own. */
  start(): Promise<void> {
    return this.source.start((event) => this.dispatch(event));
  }

  /** Streams held open on this instance. */
  get size(): number {
    let count = 0;
    for (const set of this.subscribers.values()) count += set.size;
    return count;
  }

  get isClosing(): boolean {
    return this.closing;
  }

  /** Listens for one stream's termination; returns the function that stops listening. */
  subscribe(userId: string, streamId: string, subscriber: Subscriber): () => void {
    const k = key(userId, streamId);
    let set = this.subscribers.get(k);
    if (!set) this.subscribers.set(k, (set = new Set()));
    set.add(subscriber);
    return () => {
      const current = this.subscribers.get(k);
      if (!current?.delete(subscriber)) return;
      if (current.size === 0) this.subscribers.delete(k);
    };
  }

  /** Tells every subscriber the instance is closing (they end their responses), then stops the source. */
  async stop(): Promise<void> {
    this.closing = true;
    const all = [...this.subscribers.values()].flatMap((set) => [...set]);
    this.subscribers.clear();
    for (const subscriber of all) this.notify(subscriber, { kind: 'closing' });
    await this.source.stop();
  }

  private dispatch(event: StreamTerminated): void {
    const set = this.subscribers.get(key(event.userId, event.streamId));
    // Most changes concern streams held by other instances: nothing to do, and no read.
    if (!set || set.size === 0) return;
    void this.withReplacerDevice(event).then((complete) => {
      for (const subscriber of [...set]) this.notify(subscriber, { kind: 'terminated', event: complete });
    });
  }

  /** The event with replacedBy.deviceId read back when the image could not carry it; as sent when the read fails. */
  private async withReplacerDevice(event: StreamTerminated): Promise<StreamTerminated> {
    const replacer = event.replacedBy;
    if (!replacer || !event.replacerDeviceOutOfLine || !this.options.replacerDevice) return event;
    try {
      const deviceId = await this.options.replacerDevice(event.userId, replacer.streamId);
      return deviceId === undefined ? event : { ...event, replacedBy: { ...replacer, deviceId } };
    } catch (error) {
      this.logger.warn(
        { err: error },
        'change feed: the replacing stream could not be read; event sent without its deviceId',
      );
      return event;
    }
  }

  private notify(subscriber: Subscriber, signal: FeedSignal): void {
    try {
      subscriber(signal);
    } catch (error) {
      this.logger.error({ err: error }, 'change feed: a subscriber failed');
    }
  }
}
