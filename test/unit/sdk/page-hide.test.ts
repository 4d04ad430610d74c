import type { StreamLimiterClientOptions } from '../../../sdk/src/index';
import type { FakeLimiterServer } from './fake-limiter-server';
import { BASE_URL, names, recordEvents, setup } from './kit';

type FakeDocument = EventTarget & { visibilityState: 'visible' | 'hidden' };

interface FakeBrowser {
  window: EventTarget;
  document: FakeDocument;
  sendBeacon: jest.Mock<boolean, [string, Blob]>;
  /** What the beacons carried, once their blobs are read. */
  beacons(): Promise<{ url: string; type: string; body: unknown }[]>;
  hidePage(persisted?: boolean): void;
  showPage(persisted: boolean): void;
  setVisibility(state: 'visible' | 'hidden'): void;
}

const GLOBALS = ['window', 'document', 'navigator'] as const;
let saved: (PropertyDescriptor | undefined)[] = [];

/** Installs fake `window`, `document` and `navigator.sendBeacon`; beacons are delivered to `server`. */
function installBrowser(server?: FakeLimiterServer): FakeBrowser {
  saved = GLOBALS.map((name) => Object.getOwnPropertyDescriptor(globalThis, name));
  const win = new EventTarget();
  const doc = Object.assign(new EventTarget(), { visibilityState: 'visible' as 'visible' | 'hidden' });
  const delivered: Promise<unknown>[] = [];
  const sendBeacon = jest.fn((url: string, data: Blob) => {
    if (server) {
      delivered.push(
        data
          .text()
          .then((text) => server.fetch(url, { method: 'POST', headers: { 'content-type': data.type }, body: text })),
      );
    }
    return true;
  });
  for (const [name, value] of [
    ['window', win],
    ['document', doc],
    ['navigator', { sendBeacon }],
  ] as const) {
    Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
  }
  return {
    window: win,
    document: doc,
    sendBeacon,
    beacons: async () => {
      await Promise.all(delivered);
      return Promise.all(
        sendBeacon.mock.calls.map(async ([url, blob]) => ({
          url,
          type: blob.type,
          body: JSON.parse(await blob.text()) as unknown,
        })),
      );
    },
    hidePage: (persisted = false) => win.dispatchEvent(Object.assign(new Event('pagehide'), { persisted })),
    showPage: (persisted) => win.dispatchEvent(Object.assign(new Event('pageshow'), { persisted })),
    setVisibility: (state) => {
      doc.visibilityState = state;
      doc.dispatchEvent(new Event('visibilitychange'));
    },
  };
}

function uninstallBrowser(): void {
  GLOBALS.forEach((name, i) => {
    const descriptor = saved[i];
    if (descriptor) Object.defineProperty(globalThis, name, descriptor);
    else delete (globalThis as Record<string, unknown>)[name];
  });
}

function browserSetup(options: Partial<StreamLimiterClientOptions> = {}) {
  const kit = setup(options);
  const browser = installBrowser(kit.server);
  return { ...kit, browser };
}

beforeEach(() => jest.useFakeTimers());
afterEach(() => {
  uninstallBrowser();
  jest.useRealTimers();
});

describe('release on page hide', () => {
  it('sends a JSON sendBeacon to /streams/remove on pagehide and stops heartbeating', async () => {
    const { server, limiter, browser } = browserSetup();
    const session = await limiter.start({ userId: 'alice' });

    browser.hidePage();

    expect(await browser.beacons()).toEqual([
      {
        url: `${BASE_URL}/streams/remove`,
        type: 'application/json',
        body: { userId: 'alice', streamId: session.streamId },
      },
    ]);
    expect(session.state).toBe('suspended');
    expect(server.live('alice')).toHaveLength(0);
    const sent = server.requests.length;
    await jest.advanceTimersByTimeAsync(600_000);
    expect(server.requests).toHaveLength(sent);
  });

  it('back from the back/forward cache (pageshow persisted), adds the same streamId again', async () => {
    const { server, limiter, browser } = browserSetup();
    const session = await limiter.start({ userId: 'alice', deviceId: 'laptop' });
    const events = recordEvents(session);
    browser.hidePage(true);
    await browser.beacons();

    browser.showPage(true);
    await jest.advanceTimersByTimeAsync(0);

    expect(server.requests.at(-1)).toMatchObject({
      path: '/streams/add',
      body: { userId: 'alice', streamId: session.streamId, deviceId: 'laptop' },
    });
    expect(session.state).toBe('active');
    expect(events).toEqual([['renewed', expect.objectContaining({ via: 'resume' })]]);
    await jest.advanceTimersByTimeAsync(30_000);
    expect(server.requests.at(-1)?.path).toBe('/streams/heartbeat');
    await session.stop();
  });

  it('back from the cache after other devices took the slot: expired with the conflict', async () => {
    const { server, limiter, browser } = browserSetup();
    const session = await limiter.start({ userId: 'alice' });
    const events = recordEvents(session);
    browser.hidePage(true);
    await browser.beacons();
    server.seed('alice', 's1');
    server.seed('alice', 's2');
    server.seed('alice', 's3');

    browser.showPage(true);
    await jest.advanceTimersByTimeAsync(0);

    expect(session.state).toBe('expired');
    expect(events).toEqual([['expired', expect.objectContaining({ reason: 'limit-reached' })]]);
  });

  it('by default a tab switch (visibilitychange) releases nothing: a hidden player may still be playing', async () => {
    const { server, limiter, browser } = browserSetup();
    const session = await limiter.start({ userId: 'alice' });

    browser.setVisibility('hidden');
    await jest.advanceTimersByTimeAsync(30_000);

    expect(browser.sendBeacon).not.toHaveBeenCalled();
    expect(server.requests.at(-1)?.path).toBe('/streams/heartbeat');
    await session.stop();
  });

  it("with releaseOnPageHide: 'hidden', releases when hidden and adds the same streamId again when visible", async () => {
    const { server, limiter, browser } = browserSetup({ releaseOnPageHide: 'hidden' });
    const session = await limiter.start({ userId: 'alice' });

    browser.setVisibility('hidden');
    expect(await browser.beacons()).toHaveLength(1);
    expect(server.live('alice')).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(60_000);
    expect(server.requestsTo('/streams/heartbeat')).toHaveLength(0);

    browser.setVisibility('visible');
    await jest.advanceTimersByTimeAsync(0);

    expect(server.live('alice').map((l) => l.streamId)).toEqual([session.streamId]);
    expect(session.state).toBe('active');
    await session.stop();
  });

  it('with releaseOnPageHide: false, does not listen to the page at all', async () => {
    const { server, limiter, browser } = browserSetup({ releaseOnPageHide: false });
    const session = await limiter.start({ userId: 'alice' });

    browser.hidePage();
    await jest.advanceTimersByTimeAsync(30_000);

    expect(browser.sendBeacon).not.toHaveBeenCalled();
    expect(session.state).toBe('active');
    expect(server.requests.at(-1)?.path).toBe('/streams/heartbeat');
    await session.stop();
  });

  it('stops listening once the session is stopped or terminated', async () => {
    const { server, limiter, browser } = browserSetup();
    const added = jest.spyOn(browser.window, 'addEventListener');
    const removed = jest.spyOn(browser.window, 'removeEventListener');
    const stopped = await limiter.start({ userId: 'alice' });
    const terminated = await limiter.start({ userId: 'alice' });
    await stopped.stop();
    await limiter.remove({ userId: 'alice', streamId: terminated.streamId });
    await jest.advanceTimersByTimeAsync(30_000);
    expect(terminated.state).toBe('terminated');

    browser.hidePage();

    expect(browser.sendBeacon).not.toHaveBeenCalled();
    expect(server.requests.at(-1)?.path).toBe('/streams/heartbeat');
    expect(added.mock.calls.map(([type]) => type).sort()).toEqual(['pagehide', 'pagehide', 'pageshow', 'pageshow']);
    expect(removed.mock.calls).toEqual(added.mock.calls);
  });

  it('with getToken, releases with a keepalive fetch carrying the last token (a beacon cannot)', async () => {
    const { server, limiter, browser } = browserSetup({ getToken: async () => 'jwt-1' });
    server.token = 'jwt-1';
    const session = await limiter.start({ userId: 'alice' });

    browser.hidePage();
    await jest.advanceTimersByTimeAsync(0);

    expect(browser.sendBeacon).not.toHaveBeenCalled();
    expect(server.requests.at(-1)).toMatchObject({
      path: '/streams/remove',
      keepalive: true,
      headers: { authorization: 'Bearer jwt-1', 'content-type': 'application/json' },
      body: { userId: 'alice', streamId: session.streamId },
    });
    expect(server.live('alice')).toHaveLength(0);
  });

  it('with beaconUrl, sends the beacon there, token or not', async () => {
    const { limiter, browser } = browserSetup({
      getToken: () => 'jwt-1',
      beaconUrl: 'https://player.example/limiter-release',
    });
    const session = await limiter.start({ userId: 'alice' });

    browser.hidePage();

    expect(browser.sendBeacon).toHaveBeenCalledTimes(1);
    expect(browser.sendBeacon.mock.calls[0]?.[0]).toBe('https://player.example/limiter-release');
    expect(session.state).toBe('suspended');
  });

  it('stop() after a page-hide release still posts the remove (the beacon may have been dropped)', async () => {
    const { server, limiter, browser } = browserSetup();
    const session = await limiter.start({ userId: 'alice' });
    browser.hidePage(true);
    await browser.beacons();

    await session.stop();

    expect(server.requests.at(-1)).toMatchObject({ method: 'POST', path: '/streams/remove', keepalive: false });
    expect(session.state).toBe('stopped');
    browser.showPage(true);
    await jest.advanceTimersByTimeAsync(60_000);
    expect(server.requests.at(-1)?.path).toBe('/streams/remove');
  });
});

describe('outside a browser', () => {
  it('attaches nothing and needs no window, document or sendBeacon', async () => {
    const { server, limiter } = setup();
    expect(typeof (globalThis as { window?: unknown }).window).toBe('undefined');
    const session = await limiter.start({ userId: 'alice' });
    const events = recordEvents(session);

    await jest.advanceTimersByTimeAsync(30_000);
    await session.stop();

    expect(names(events)).toEqual(['renewed']);
    expect(server.requests.map((r) => r.path)).toEqual(['/streams/add', '/streams/heartbeat', '/streams/remove']);
  });
});
