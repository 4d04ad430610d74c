import {
  createStreamLimiterClient,
  type StreamLimiterClientOptions,
  type StreamSession,
  type StreamSessionEventMap,
} from '../../../sdk/src/index';
import { FakeLimiterServer } from './fake-limiter-server';

export const BASE_URL = 'https://limiter.test';
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export function setup(options: Partial<StreamLimiterClientOptions> = {}) {
  const server = new FakeLimiterServer();
  const limiter = createStreamLimiterClient({ baseUrl: BASE_URL, fetch: server.fetch, events: false, ...options });
  return { server, limiter };
}

export type RecordedEvent = {
  [E in keyof StreamSessionEventMap]: [E, StreamSessionEventMap[E]];
}[keyof StreamSessionEventMap];

/** Every event the session emits, in order. */
export function recordEvents(session: StreamSession): RecordedEvent[] {
  const events: RecordedEvent[] = [];
  session.on('renewed', (info) => events.push(['renewed', info]));
  session.on('terminated', (info) => events.push(['terminated', info]));
  session.on('expired', (info) => events.push(['expired', info]));
  session.on('error', (error) => events.push(['error', error]));
  return events;
}

export function names(events: RecordedEvent[]): string[] {
  return events.map(([name]) => name);
}

/** Settles a promise without letting a rejection go unhandled while timers are advanced. */
export function settle<T>(promise: Promise<T>): () => { value?: T; error?: unknown; done: boolean } {
  let state: { value?: T; error?: unknown; done: boolean } = { done: false };
  promise.then(
    (value) => (state = { value, done: true }),
    (error: unknown) => (state = { error, done: true }),
  );
  return () => state;
}
