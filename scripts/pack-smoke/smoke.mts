// Type-checked with moduleResolution "bundler" against the packed .d.ts files, then run.
import {
  createStreamLimiterClient,
  StreamLimitReachedError,
  type RenewedInfo,
  type StreamSession,
} from '@stream-limiter/client';
import { streamLimiter, type StreamLimiterPluginOptions } from 'videojs-stream-limiter';
import { baseUrl } from './config.js';

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`pack smoke (TypeScript): ${what}`);
}

const limiter = createStreamLimiterClient({ baseUrl, retry: { maxAttempts: 2 } });
const options: StreamLimiterPluginOptions = { limiter, userId: 'typed', labels: { cancel: 'Later' } };
check(typeof streamLimiter === 'function' && options.labels?.cancel === 'Later', 'plugin types and entry');

const userId = `pack-ts-${Date.now()}`;
const session: StreamSession = await limiter.start({ userId, deviceId: 'typescript' });
check(session.lease.limit === 3, `limit 3, got ${session.lease.limit}`);
// The SDK's timers do not keep Node alive (a player's heartbeats should not), so this one does, as a bound.
const renewed = await new Promise<RenewedInfo>((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('no heartbeat within 20 s')), 20_000);
  session.on('renewed', (info) => (clearTimeout(timer), resolve(info)));
  session.on('expired', ({ error }) => (clearTimeout(timer), reject(error)));
});
check(renewed.via === 'heartbeat', `renewed by heartbeat, got ${renewed.via}`);
const others = await Promise.all([limiter.start({ userId }), limiter.start({ userId })]);
const fourth = await limiter.start({ userId }).then(
  () => undefined,
  (error: unknown) => error,
);
check(fourth instanceof StreamLimitReachedError && fourth.streams.length === 3, 'a fourth is refused with the three');
await Promise.all([session, ...others].map((s) => s.stop()));
check((await limiter.list(userId)).activeStreams === 0, 'every slot released');
console.log('pack: TypeScript smoke passed (types, start, heartbeat, 409, stop)');
