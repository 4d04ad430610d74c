/* global document, window, fetch, setInterval, URL, URLSearchParams, crypto, AbortController */
// The demo page's script, bundled by demo/build.js: one Video.js player per simulated device, each using
// the videojs-stream-limiter plugin exactly as a player team would.
import { createStreamLimiterClient, StreamLimiterError } from '@stream-limiter/client';
import { registerStreamLimiter } from 'videojs-stream-limiter';

const { videojs } = window; // from video.js's own dist file, loaded by the page before this module
registerStreamLimiter(videojs);

// This file is <base>/demo/demo.js, so the service root (BASE_PATH included) is one level up.
const baseUrl = new URL('..', import.meta.url).href;
const clip = new URL('clip.webm', import.meta.url).href;
const DEVICES = ['TV', 'Laptop', 'Phone', 'Tablet'];

const $ = (id) => document.getElementById(id);
const tokenInput = $('token');
const userId = pickUserId();

/** The user from ?userId=, else a random one written back into the address so that a reload keeps it. */
function pickUserId() {
  const params = new URLSearchParams(window.location.search);
  const given = params.get('userId');
  if (given) return given;
  const generated = `demo-${crypto.getRandomValues(new Uint32Array(1))[0].toString(36)}`;
  params.set('userId', generated);
  window.history.replaceState(null, '', `${window.location.pathname}?${params}`);
  return generated;
}

/** A client per screen (so one can "crash" alone); a pasted token is read before every request. */
function createClient(fetchImpl) {
  return createStreamLimiterClient({
    baseUrl,
    getToken: tokenInput.value.trim() ? () => tokenInput.value.trim() : undefined,
    ...(fetchImpl && { fetch: fetchImpl }),
    // The page shows failures at once rather than retrying them for half a minute.
    retry: { maxAttempts: 2, maxElapsedMs: 5000 },
  });
}

/** A DOM element with text and children; textContent only, so ids from the service are never parsed as HTML. */
function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'onclick') element.addEventListener('click', value);
    else if (key === 'className') element.className = value;
    else element.setAttribute(key, value);
  }
  element.append(...children.filter((child) => child !== undefined && child !== null));
  return element;
}

function secondsUntil(iso) {
  return Math.max(0, Math.ceil((Date.parse(iso) - Date.now()) / 1000));
}

/** One screen: a Video.js player bound to the limiter by the plugin. */
function createDevice(name, index) {
  const device = { name, crashed: false, inFlight: new Set() };
  // "Crash" flips this: from then on the screen sends nothing, and its open requests (the event stream
  // included) are cut, as if its device had died. The SDK is untouched: the failure is under it.
  const limiter = createClient((input, init = {}) => {
    if (device.crashed) return Promise.reject(new TypeError('simulated crash: this screen sends nothing'));
    const controller = new AbortController();
    init.signal?.addEventListener('abort', () => controller.abort(init.signal.reason));
    device.inFlight.add(controller);
    return fetch(input, { ...init, signal: controller.signal }).finally(() => device.inFlight.delete(controller));
  });
  const video = h('video', {
    id: `player-${index + 1}`,
    className: 'video-js vjs-16-9',
    controls: '',
    muted: '',
    loop: '',
    playsinline: '',
    preload: 'auto',
  });
  video.append(h('source', { src: clip, type: 'video/webm' }));
  const status = h('span', { className: 'status' }, 'idle');
  const crash = h('button', { type: 'button', className: 'crash' }, 'Crash');
  const stop = h('button', { type: 'button', className: 'stop' }, 'Stop');
  device.element = h(
    'li',
    { className: 'device', 'data-device': name },
    h('div', { className: 'device-head' }, h('span', { className: 'name' }, name), status),
    video,
    h('div', { className: 'actions' }, crash, stop),
    h('div', { className: 'stream-id' }),
  );
  $('devices').append(device.element);

  device.player = videojs(video, { controls: true, muted: true, loop: true, fluid: true });
  device.binding = device.player.streamLimiter({
    limiter,
    userId,
    deviceId: name,
    metadata: { title: 'testsrc' },
    // A reload of this page renews each screen's own lease instead of taking another slot.
    resumeKey: `demo:${userId}:${name}`,
  });
  const render = () => {
    const state = device.crashed ? 'crashed' : device.binding.state;
    device.element.dataset.state = state;
    status.textContent = device.binding.session?.degraded ? `${state} (degraded)` : state;
    const session = device.binding.session;
    device.element.querySelector('.stream-id').textContent = session ? `stream ${session.streamId}` : '';
  };
  device.player.on('streamlimiterstate', render);
  crash.addEventListener('click', () => {
    device.crashed = true;
    for (const controller of device.inFlight) controller.abort();
    device.player.pause();
    render();
  });
  stop.addEventListener('click', () => void device.binding.stop().catch(() => undefined));
  render();
  return device;
}

/** The user's live streams as the service sees them: what the limit counts. */
async function refreshList(client) {
  const status = $('list-status');
  try {
    const listed = await client.list(userId);
    $('limit').textContent = String(listed.limit);
    const slots = listed.slotsInUse === undefined ? '' : `, ${listed.slotsInUse} slots in use`;
    status.textContent = `${listed.activeStreams} of ${listed.limit} live streams for ${listed.userId}${slots}`;
    const rows = listed.streams.map((stream) =>
      h(
        'tr',
        { 'data-stream-id': stream.streamId },
        h('td', {}, stream.streamId),
        h('td', {}, stream.deviceId ?? ''),
        h('td', {}, new Date(stream.startedAt).toLocaleTimeString()),
        h('td', {}, `${secondsUntil(stream.expiresAt)} s`),
      ),
    );
    $('streams').tBodies[0].replaceChildren(...rows);
  } catch (error) {
    status.textContent = `could not list the streams: ${error.message}`;
  }
}

/** The preflight a "who is watching" screen makes before showing a play button. */
async function refreshPreflight(client) {
  const line = $('preflight');
  try {
    const check = await client.check({ userId });
    line.dataset.allowed = String(check.allowed);
    const evict = check.wouldEvict?.length
      ? `; it would end ${check.wouldEvict.map((s) => s.deviceId ?? s.streamId).join(', ')}`
      : '';
    line.textContent = `Preflight (${check.policy}): a new screen would ${check.allowed ? 'be admitted' : 'be refused'}${evict}.`;
  } catch (error) {
    line.dataset.allowed = '';
    line.textContent =
      error instanceof StreamLimiterError && error.status === 404
        ? 'Preflight: this service has no POST /streams/check yet.'
        : `Preflight failed: ${error.message}`;
  }
}

$('user-id').value = userId;
$('user-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const params = new URLSearchParams({ userId: $('user-id').value.trim() });
  window.location.search = params.toString();
});
DEVICES.forEach(createDevice);
// The list is polled about once a second, the preflight every two.
let tick = 0;
let polling = false;
const poll = () => {
  if (polling) return;
  polling = true;
  const client = createClient();
  const work = [refreshList(client)];
  if (tick++ % 2 === 0) work.push(refreshPreflight(client));
  void Promise.all(work).finally(() => (polling = false));
};
setInterval(poll, 1000);
poll();
