import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
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
const LEASE_SECONDS = 4;
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

/** Polls a condition in the test process: locators, not page-side evaluation, so the page's CSP stays untouched. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describeInChromium(
  `the /demo page in headless Chromium${CHROMIUM ? '' : ' (skipped: chromium is not installed)'}`,
  () => {
    let service: ServiceProcess | undefined;
    let browser: Browser | undefined;
    let page: Page;
    const userId = uniqueId('demo');
    const problems: string[] = [];

    beforeAll(async () => {
      service = await startService({
        DYNAMODB_ENDPOINT: testEndpoint(),
        DYNAMODB_TABLE: uniqueId('demo-table'),
        LEASE_SECONDS: String(LEASE_SECONDS),
        BASE_PATH,
        // The default limit: the page's calls are rate limited like any player's (4 players beat once a second).
        RATE_LIMIT_PER_MINUTE: '600',
      });
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-quic',
          '--no-first-run',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
      page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      // 409 and 410 answers are logged by Chromium as failed loads; anything else is a problem (a CSP refusal, say).
      page.on('console', (message) => {
        if (message.type() === 'error' && !/status of 4(09|10)\b/.test(message.text())) problems.push(message.text());
      });
    });

    afterAll(async () => {
      await browser?.close().catch(() => undefined);
      await service?.stop();
      killAllServices();
    });

    const players = () => page.locator('#players > li');
    const player = (number: number) => players().nth(number - 1);
    const listed = () => page.locator('#streams tbody tr');
    const streamIdOf = async (number: number) =>
      (await player(number).locator('.stream-id').innerText()).replace(/^stream /, '');
    const stateOf = (number: number) => player(number).getAttribute('data-state');

    async function startPlayer(number: number, state: 'active' | 'refused'): Promise<void> {
      await page.getByRole('button', { name: 'Start a player' }).click();
      await until(`player ${number} is ${state}`, async () => (await stateOf(number)) === state);
    }

    it('serves the page under BASE_PATH, with its script and the SDK as files under the default CSP', async () => {
      const response = await page.goto(`${service!.url}${BASE_PATH}/demo?userId=${userId}`);
      expect(response?.status()).toBe(200);
      expect(response?.headers()['content-security-policy']).toMatch(/script-src 'self'(;|$)/);
      expect(await page.locator('#user-id').inputValue()).toBe(userId);
      await until('the list has loaded', async () =>
        /0 of 3 live streams/.test(await page.locator('#list-status').innerText()),
      );
      const sdk = await fetch(`${service!.url}${BASE_PATH}/demo/stream-limiter-client.js`);
      expect(sdk.headers.get('content-type')).toMatch(/^text\/javascript/);
      expect(await sdk.text()).toContain('export function createStreamLimiterClient');
      expect((await fetch(`${service!.url}/demo`)).status).toBe(404);
    });

    it('admits three players and lists their three streams', async () => {
      for (const number of [1, 2, 3]) await startPlayer(number, 'active');
      await until('the list shows 3 streams', async () => (await listed().count()) === 3);
      expect(await page.locator('#list-status').innerText()).toMatch(/3 of 3 live streams/);
    });

    it('refuses a 4th with the 409 conflict list, and "stop this one and watch here" terminates that one', async () => {
      await startPlayer(4, 'refused');
      const conflicts = player(4).locator('.conflicts li');
      expect(await conflicts.count()).toBe(3);
      expect(await player(4).getByRole('button', { name: 'Stop this one and watch here' }).count()).toBe(3);

      await conflicts.filter({ hasText: 'player-1' }).getByRole('button').click();
      await until('player 4 is admitted', async () => (await stateOf(4)) === 'active');
      const replacement = await streamIdOf(4);
      // Player 1 learns it from its next heartbeat (410), within a heartbeat interval.
      await until('player 1 is terminated', async () => (await stateOf(1)) === 'terminated');
      expect(await player(1).innerText()).toContain(`replaced by ${replacement}`);
      await until('the list shows players 2-4', async () =>
        (await listed().allInnerTexts()).join('\n').includes(replacement),
      );
      expect(await listed().count()).toBe(3);
    });

    it('lets a player stop heartbeating: its countdown runs out and the service drops it after LEASE_SECONDS', async () => {
      const crashed = await streamIdOf(2);
      await player(2).getByRole('button', { name: 'Stop heartbeats' }).click();
      expect(await stateOf(2)).toBe('crashed');
      expect(await player(2).locator('.countdown').innerText()).toMatch(/lease expires in [0-4] s/);
      const stoppedAt = Date.now();
      await until(
        'the list drops the silent stream',
        async () => (await page.locator(`#streams tr[data-stream-id="${crashed}"]`).count()) === 0,
        (LEASE_SECONDS + 5) * 1000,
      );
      expect(Date.now() - stoppedAt).toBeGreaterThan((LEASE_SECONDS - 2) * 1000);
      await until('player 2 shows expired', async () => (await stateOf(2)) === 'expired');
      expect(await listed().count()).toBe(2);
    });

    it('stops a player, releasing its slot at once', async () => {
      await player(3).getByRole('button', { name: 'Stop', exact: true }).click();
      await until('player 3 has released its slot', async () => /released its slot/.test(await player(3).innerText()));
      await until('the list shows only player 4', async () => (await listed().count()) === 1);
    });

    it('fills up again, refuses the next and renders it all without errors (screenshot)', async () => {
      await startPlayer(5, 'active');
      await startPlayer(6, 'active');
      await startPlayer(7, 'refused');
      await until('the list shows 3 streams', async () => (await listed().count()) === 3);
      mkdirSync(path.dirname(screenshotPath), { recursive: true });
      await page.screenshot({ path: screenshotPath, fullPage: true });
      expect(problems).toEqual([]);
    });
  },
);
