// Runs in a scratch project where the packed tarballs are installed: the ESM entry, then the CommonJS one.
/* global setTimeout, clearTimeout */
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';
import * as sdk from '@stream-limiter/client';
import { registerStreamLimiter, DEFAULT_LABELS } from 'videojs-stream-limiter';

const require = createRequire(import.meta.url);
const cjs = require('@stream-limiter/client');
assert.deepEqual(Object.keys(cjs).sort(), Object.keys(sdk).sort(), 'the CommonJS build exports what the ESM one does');
assert.equal(typeof require('videojs-stream-limiter').registerStreamLimiter, 'function');

const registered = [];
registerStreamLimiter({ registerPlugin: (name) => registered.push(name) });
assert.deepEqual(registered, ['streamLimiter']);
assert.equal(DEFAULT_LABELS.stopAndWatchHere, 'Stop that one and watch here');

const limiter = sdk.createStreamLimiterClient({ baseUrl: process.env.STREAM_LIMITER_URL });
const userId = `pack-esm-${Date.now()}`;
const session = await limiter.start({ userId, deviceId: 'node' });
assert.equal(session.state, 'active');
// The SDK's timers do not keep Node alive (a player's heartbeats should not), so this one does, as a bound.
const renewed = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('no heartbeat within 20 s')), 20_000);
  session.on('renewed', (info) => (clearTimeout(timer), resolve(info)));
  session.on('expired', ({ error }) => (clearTimeout(timer), reject(error)));
});
assert.equal(renewed.via, 'heartbeat');
assert.equal((await limiter.list(userId)).activeStreams, 1);
await session.stop();
assert.equal((await limiter.list(userId)).activeStreams, 0);
console.log('pack: ESM smoke passed (start 201, heartbeat 200, stop; CommonJS exports match)');
