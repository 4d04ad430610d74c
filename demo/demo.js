/* global document, window, fetch, setInterval, URL, URLSearchParams, crypto */
// The demo page's only script: simulated players, each using the player SDK as a real player would.
// A file, not an inline script, so that it runs under helmet's default CSP (script-src 'self').
import { createStreamLimiterClient, StreamLimitReachedError } from './stream-limiter-client.js';

// This file is <base>/demo/demo.js, so the service root (BASE_PATH included) is one level up.
const baseUrl = new URL('..', import.meta.url).href;

const userId = pickUserId();
const players = [];
let nextPlayer = 1;

const $ = (id) => document.getElementById(id);
const tokenInput = $('token');

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

/** A client per player (so one can "crash" alone), and a fresh one per poll so a pasted token is picked up. */
function createClient(fetchImpl) {
  const token = tokenInput.value.trim();
  return createStreamLimiterClient({
    baseUrl,
    ...(token && { getToken: () => tokenInput.value.trim() }),
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

function startPlayer() {
  const player = {
    number: nextPlayer++,
    session: undefined,
    // 'starting' | 'active' | 'refused' | 'crashed' | 'terminated' | 'expired' | 'stopped' | 'failed'
    state: 'starting',
    message: '',
    conflicts: [],
    crashed: false,
    element: h('li', { className: 'player' }),
  };
  player.deviceId = `player-${player.number}`;
  // "Stop heartbeats" flips this: from then on the player sends nothing, as if its process had died.
  // The SDK has no way to halt a session without removing it, so the crash is simulated under it.
  player.client = createClient((input, init) =>
    player.crashed ? Promise.reject(new TypeError('simulated crash: this player sends nothing')) : fetch(input, init),
  );
  players.push(player);
  $('players').append(player.element);
  void admit(player);
}

/** start() for this player, plainly or replacing one of the user's streams ("stop that one and watch here"). */
async function admit(player, replaceStreamId) {
  player.state = 'starting';
  player.conflicts = [];
  renderPlayer(player);
  try {
    const session = await player.client.start({ userId, deviceId: player.deviceId, replaceStreamId });
    player.session = session;
    player.state = 'active';
    player.message = replaceStreamId ? `admitted in place of ${replaceStreamId}` : 'admitted';
    session.on('renewed', ({ via }) => {
      if (player.state === 'active') player.message = via === 'heartbeat' ? 'heartbeating' : `admitted again (${via})`;
      updatePlayer(player);
    });
    session.on('terminated', ({ reason, replacedBy }) => {
      player.state = 'terminated';
      player.message =
        reason === 'replaced' && replacedBy
          ? `replaced by ${replacedBy.streamId}${replacedBy.deviceId ? ` (${replacedBy.deviceId})` : ''}`
          : 'removed by another device';
      renderPlayer(player);
    });
    session.on('expired', ({ reason }) => {
      player.state = 'expired';
      player.message = reason === 'lease-lapsed' ? 'its lease ran out: the service no longer counts it' : reason;
      renderPlayer(player);
    });
    session.on('error', (error) => {
      if (player.state === 'active') player.message = `heartbeat failed: ${error.code}; retrying`;
      updatePlayer(player);
    });
  } catch (error) {
    if (error instanceof StreamLimitReachedError) {
      player.state = 'refused';
      player.message = `the user already watches ${error.activeStreams} of ${error.limit} streams`;
      player.conflicts = error.streams;
    } else {
      player.state = 'failed';
      player.message = error.message;
    }
  }
  renderPlayer(player);
}

function crash(player) {
  player.crashed = true;
  player.state = 'crashed';
  player.message = 'no more heartbeats';
  renderPlayer(player);
}

async function stop(player) {
  player.state = 'stopped';
  player.message = 'stopping…';
  renderPlayer(player);
  try {
    await player.session.stop();
    player.message = 'released its slot';
  } catch (error) {
    player.message = `remove failed (${error.code}); the lease lapses on its own`;
  }
  renderPlayer(player);
}

/** Rebuilds a player's card; called when its state changes, so buttons are not replaced under the pointer. */
function renderPlayer(player) {
  const { session } = player;
  const children = [
    h('span', { className: 'name' }, `Player ${player.number}`),
    h('span', { className: `state state-${player.state}` }, player.state),
    h('span', { className: 'message' }),
  ];
  if (session) children.push(h('div', { className: 'stream-id' }, `stream ${session.streamId}`));
  if (session && (player.state === 'active' || player.state === 'crashed'))
    children.push(h('div', { className: 'countdown' }));
  if (player.state === 'active') {
    children.push(
      h(
        'div',
        { className: 'actions' },
        h('button', { type: 'button', onclick: () => crash(player) }, 'Stop heartbeats'),
        h('button', { type: 'button', onclick: () => void stop(player) }, 'Stop'),
      ),
    );
  }
  if (player.state === 'refused') {
    children.push(
      h(
        'ul',
        { className: 'conflicts' },
        ...player.conflicts.map((stream) =>
          h(
            'li',
            {},
            `${stream.deviceId ?? 'unknown device'} (${stream.streamId}) `,
            h(
              'button',
              { type: 'button', onclick: () => void admit(player, stream.streamId) },
              'Stop this one and watch here',
            ),
          ),
        ),
      ),
    );
  }
  player.element.dataset.state = player.state;
  player.element.replaceChildren(...children);
  updatePlayer(player);
}

/** Refreshes a card's message and countdown in place. */
function updatePlayer(player) {
  player.element.querySelector('.message').textContent = player.message;
  const countdown = player.element.querySelector('.countdown');
  if (countdown) countdown.textContent = `lease expires in ${secondsUntil(player.session.lease.expiresAt)} s`;
}

/** The user's live streams as the service sees them: what the limit counts. */
async function refreshList() {
  const status = $('list-status');
  try {
    const listed = await createClient().list(userId);
    $('limit').textContent = String(listed.limit);
    status.textContent = `${listed.activeStreams} of ${listed.limit} live streams for ${listed.userId}`;
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

$('user-id').value = userId;
$('start-player').addEventListener('click', startPlayer);
// Countdowns move between heartbeats; the list is polled about once a second.
setInterval(() => players.forEach(updatePlayer), 500);
let polling = false;
setInterval(() => {
  if (polling) return;
  polling = true;
  void refreshList().finally(() => (polling = false));
}, 1000);
void refreshList();
