import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { killAllServices, startService, type ServiceProcess } from '../helpers/service-process';
import { testEndpoint, uniqueId } from '../helpers/test-app';

/** Debian's chromium (CI installs it with apt); without it this file is skipped, not failed. */
function findChromium(): string | undefined {
  try {
    return (
      execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' }).trim() ||
      undefined
    );
  } catch {
    return undefined;
  }
}

const CHROMIUM = findChromium();
// Heartbeats every 2 s (a third of the lease, rounded down), so the heartbeat path is measurably slower
// than the event stream's, and a crashed screen's slot returns within the test's patience.
const LEASE_SECONDS = 7;
const HEARTBEAT_MS = 2000;
const BASE_PATH = '/dev';
const SCREENSHOT = path.resolve(__dirname, '../../docs/demo.png');
// The committed screenshot is rewritten only on request, so a test run leaves the checkout clean.
const screenshotPath =
  process.env.UPDATE_DEMO_SCREENSHOT === '1' || !existsSync(SCREENSHOT)
    ? SCREENSHOT
    : path.join(os.tmpdir(), `stream-limiter-demo-${process.pid}.png`);

if (!CHROMIUM) {
  process.stderr.write('test/e2e/demo.test.ts: skipped, no chromium on PATH (apt-get install chromium)\n');
}
const describeInChromium = CHROMIUM ? describe : describe.skip;

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describeInChromium(
  `the /demo page: Video.js players with the plugin, in headless Chromium${CHROMIUM ? '' : ' (skipped: chromium is not installed)'}`,
  () => {
    let service: ServiceProcess | undefined;
    let browser: Browser | undefined;
    let page: Page;
    /** Whether this service has GET /streams/events: then a kick must arrive on it, not by heartbeat. */
    let pushed = false;
    const userId = uniqueId('demo');
    const problems: string[] = [];
    const addAnswers: number[] = [];

    beforeAll(async () => {
      service = await startService({
        DYNAMODB_ENDPOINT: testEndpoint(),
        DYNAMODB_TABLE: uniqueId('demo-table'),
        LEASE_SECONDS: String(LEASE_SECONDS),
        BASE_PATH,
        // The default limit: the page's calls are rate limited like any player's.
        RATE_LIMIT_PER_MINUTE: '600',
        // Kicks pushed over GET /streams/events, read from the table's change log (its own table, with a stream).
        STREAM_EVENTS: 'table',
      });
      // The change feed starts beside the server: ask until it answers for a stream that is not live.
      for (let tries = 0; tries < 20 && !pushed; tries++) {
        const probe = await fetch(`${service.url}${BASE_PATH}/streams/events?userId=probe&streamId=probe`);
        const body = (await probe.json().catch(() => ({}))) as { code?: string };
        pushed = probe.status === 404 && body.code === 'STREAM_NOT_FOUND';
        if (!pushed) await new Promise((resolve) => setTimeout(resolve, 250));
      }
      process.stderr.write(
        `demo.test: ${pushed ? 'the service pushes terminations (GET /streams/events)' : 'no GET /streams/events on this service: kicks arrive by heartbeat'}\n`,
      );
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        // playwright-core gives every launch a fresh temporary profile (it refuses --user-data-dir here).
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
          '--disable-quic',
          '--autoplay-policy=no-user-gesture-required',
        ],
      });
      page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      // Chromium logs every error answer as a failed load: the API's (409, 410, and 404 from a service without
      // the preflight or the event stream, a 503 on a loaded machine) are the demo's subject; an asset's is a problem.
      page.on('console', (message) => {
        if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
          problems.push(message.text());
        }
      });
      page.on('response', (response) => {
        const { pathname } = new URL(response.url());
        if (pathname.endsWith('/streams/add')) addAnswers.push(response.status());
        else if (response.status() >= 400 && !/^\/dev\/(streams|users)\//.test(pathname)) {
          problems.push(`${response.status()} for ${pathname}`);
        }
      });
    });

    afterAll(async () => {
      await browser?.close().catch(() => undefined);
      await service?.stop();
      killAllServices();
    });

    const device = (name: string): Locator => page.locator(`li[data-device="${name}"]`);
    const video = (name: string): Locator => device(name).locator('video');
    const stateOf = (name: string) => device(name).getAttribute('data-state');
    const streamIdOf = async (name: string) =>
      (await device(name).locator('.stream-id').innerText()).replace(/^stream /, '');
    const playback = (name: string) =>
      video(name).evaluate((element: HTMLVideoElement) => ({
        paused: element.paused,
        currentTime: element.currentTime,
      }));
    const listed = () => page.locator('#streams tbody tr');

    async function open(): Promise<void> {
      const response = await page.goto(`${service!.url}${BASE_PATH}/demo?userId=${userId}`);
      expect(response?.status()).toBe(200);
      await until('the four players are ready', async () => (await page.locator('.video-js.vjs-paused').count()) === 4);
    }

    async function press(name: string): Promise<void> {
      await device(name).locator('.vjs-big-play-button').click();
    }

    /** currentTime moves on: the clip is really playing, not just "admitted". */
    async function expectPlaying(name: string): Promise<void> {
      await until(`${name} is playing`, async () => (await stateOf(name)) === 'playing');
      const from = (await playback(name)).currentTime;
      // The clip loops (8 s): a playing element's currentTime moves on, or wraps round to the start.
      await until(
        `${name}'s currentTime advances`,
        async () => Math.abs((await playback(name)).currentTime - from) > 0.3,
      );
      expect((await playback(name)).paused).toBe(false);
    }

    it('serves the page, Video.js, the bundle and the clip from the service under the default CSP', async () => {
      await open();
      const response = await fetch(`${service!.url}${BASE_PATH}/demo`);
      const csp = response.headers.get('content-security-policy') ?? '';
      expect(csp).toMatch(/script-src 'self'(;|$)/);
      expect(csp).not.toMatch(/media-src/); // media falls back to default-src 'self', which the clip is
      const clip = await fetch(`${service!.url}${BASE_PATH}/demo/clip.webm`, { headers: { range: 'bytes=0-99' } });
      expect(clip.status).toBe(206);
      expect(clip.headers.get('content-type')).toBe('video/webm');
      expect((await clip.arrayBuffer()).byteLength).toBe(100);
      const videojs = await fetch(`${service!.url}${BASE_PATH}/demo/video.min.js`);
      expect(videojs.headers.get('content-type')).toMatch(/^text\/javascript/);
      expect(await page.locator('#user-id').inputValue()).toBe(userId);
      await until('the list has loaded', async () =>
        /0 of 3 live streams/.test(await page.locator('#list-status').innerText()),
      );
    });

    it('admits three screens, and each plays the clip', async () => {
      for (const name of ['TV', 'Laptop', 'Phone']) {
        await press(name);
        await expectPlaying(name);
      }
      await until('the list shows 3 streams', async () => (await listed().count()) === 3);
    });

    it('refuses a fourth with a dialog listing the others; it never starts playing', async () => {
      await press('Tablet');
      const dialog = device('Tablet').locator('.vjs-stream-limiter-refused-dialog');
      await until('the dialog opens', async () => (await dialog.count()) === 1 && (await dialog.isVisible()));
      expect(await stateOf('Tablet')).toBe('refused');
      expect(await dialog.locator('li').allInnerTexts()).toEqual([
        expect.stringContaining('TV'),
        expect.stringContaining('Laptop'),
        expect.stringContaining('Phone'),
      ]);
      expect(await dialog.getByRole('button', { name: 'Stop that one and watch here' }).count()).toBe(3);
      // Held in the `play` event itself: at most a frame or two slips out before the pause, and nothing after.
      const held = await playback('Tablet');
      expect(held.paused).toBe(true);
      expect(held.currentTime).toBeLessThan(0.1);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(await playback('Tablet')).toEqual(held);
      mkdirSync(path.dirname(screenshotPath), { recursive: true });
      await page.screenshot({ path: screenshotPath, fullPage: true });
    });

    it('"stop that one and watch here" stops the TV within a second and plays on the tablet', async () => {
      const dialog = device('Tablet').locator('.vjs-stream-limiter-refused-dialog');
      const clickedAt = Date.now();
      await dialog.locator('li', { hasText: 'TV' }).getByRole('button').click();
      await until('the TV is paused and says who took over', async () => (await stateOf('TV')) === 'terminated');
      const stoppedAfterMs = Date.now() - clickedAt;
      process.stderr.write(`demo.test: the TV stopped ${stoppedAfterMs} ms after the click\n`);
      expect((await playback('TV')).paused).toBe(true);
      const overlay = device('TV').locator('.vjs-stream-limiter-terminated-dialog');
      expect(await overlay.innerText()).toContain('Playback moved to Tablet.');
      const via = await device('TV').locator('.video-js').getAttribute('data-stream-limiter-terminated-via');
      if (pushed) {
        // Pushed: well under the 2 s heartbeat interval (generous for a loaded machine). A heartbeat that
        // happens to be due first may carry the news instead; either way the TV stops within the bound.
        expect(['events', 'heartbeat']).toContain(via);
        expect(stoppedAfterMs).toBeLessThan(HEARTBEAT_MS + 1000);
      } else {
        expect(via).toBe('heartbeat');
        expect(stoppedAfterMs).toBeLessThan(HEARTBEAT_MS + 3000);
      }
      await expectPlaying('Tablet');
      await until('the list shows Laptop, Phone and Tablet', async () =>
        /Laptop[\s\S]*Phone[\s\S]*Tablet/.test((await listed().allInnerTexts()).join('\n')),
      );
      expect(await listed().count()).toBe(3);
    });

    it('a reload renews each screen its own lease (200) instead of taking another slot (resumeKey)', async () => {
      const before = { Laptop: await streamIdOf('Laptop'), Phone: await streamIdOf('Phone') };
      await open();
      addAnswers.length = 0;
      for (const name of ['Laptop', 'Phone'] as const) {
        await press(name);
        await expectPlaying(name);
        expect(await streamIdOf(name)).toBe(before[name]);
      }
      expect(addAnswers).toEqual([200, 200]);
      expect(await listed().count()).toBeLessThanOrEqual(3);
    });

    it('a crashed screen keeps its slot until its lease runs out, then the slot returns', async () => {
      const crashed = await streamIdOf('Phone');
      await device('Phone').getByRole('button', { name: 'Crash' }).click();
      const crashedAt = Date.now();
      expect(await stateOf('Phone')).toBe('crashed');
      await until(
        'the list drops the silent stream',
        async () => (await page.locator(`#streams tr[data-stream-id="${crashed}"]`).count()) === 0,
        (LEASE_SECONDS + 6) * 1000,
      );
      // Its last heartbeat was at most one interval before the crash.
      expect(Date.now() - crashedAt).toBeGreaterThan((LEASE_SECONDS - HEARTBEAT_MS / 1000 - 1.5) * 1000);
      await expectPlaying('Laptop');
      expect(problems).toEqual([]);
    });
  },
);
