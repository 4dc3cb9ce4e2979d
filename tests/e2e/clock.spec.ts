// Wrong clocks and the page lifecycle: a browser clock minutes or an hour off the server's, a
// page frozen past its refresh time, a network that goes away, a page restored from the
// back/forward cache, and the session-end notice. Each test prints its figures.
import { expect, test, type APIRequestContext, type Page } from '@playwright/test';
import { counters, resetCounters, serverSettings, signIn, watchSignedOut } from './helpers';

/** Clicks "Call /api/me" once a second for `ms`; returns how many clicks. */
async function activity(page: Page, ms: number): Promise<number> {
  const started = Date.now();
  let clicks = 0;
  while (Date.now() - started < ms) {
    await page.locator('#call-me').click();
    clicks++;
    await page.waitForTimeout(1_000);
  }
  return clicks;
}

test.describe('browser clock off the server clock', () => {
  const SKEWS: [string, number][] = [
    ['2 min ahead', 120_000],
    ['2 min behind', -120_000],
    ['1 h ahead', 3_600_000],
    ['1 h behind', -3_600_000],
  ];
  for (const [name, skew] of SKEWS) {
    test(`${name}: sign-in works, 60 s with 10 s tokens, no 401, refreshes on schedule`, async ({ page, request }) => {
      test.setTimeout(120_000);
      await serverSettings(request, { access_secs: 10 });
      // Only this page's clock is off: Date, timers and performance (time flows on).
      await page.clock.install({ time: Date.now() + skew });
      await signIn(page, 'local');
      await expect(page.locator('#status')).toHaveText('Authenticated');
      await expect(page.locator('#me-result')).toContainText('ada');
      await resetCounters(request);
      const appBefore = Number(await page.locator('#refresh-count').innerText());
      const started = Date.now();
      const clicks = await activity(page, 60_000);
      await expect(page.locator('#me-stats')).toHaveText(`calls=${clicks + 1} failures=0`);
      const seen = await counters(request);
      const appRefreshes = Number(await page.locator('#refresh-count').innerText()) - appBefore;
      await page.goto('/tokens');
      const offset = Number(await page.locator('#clock-offset').innerText());
      const seconds = (Date.now() - started) / 1000;
      console.log(
        `clock ${name}: ${seconds.toFixed(1)} s, ${clicks} calls, ${seen.me_unauthorized} 401s from /api/me, ` +
          `${seen.refreshes} refreshes, offset judged ${(offset / 1000).toFixed(1)} s`,
      );
      expect(seen.me_unauthorized).toBe(0);
      expect(seen.refresh_rejected).toBe(0);
      expect(Math.abs(appRefreshes - seen.refreshes)).toBeLessThanOrEqual(1);
      // Refreshed at half-life: a 10 s token every 5 s, 12 in 60 s (plus a request's latency),
      // as with a right clock; not a storm.
      expect(seen.refreshes).toBeGreaterThanOrEqual(10);
      expect(seen.refreshes).toBeLessThanOrEqual(14);
      // The server's clock is ahead when the browser's is behind. iat is whole seconds.
      expect(Math.abs(offset + skew)).toBeLessThan(2_000);
    });
  }
});

test.describe('page lifecycle', () => {
  test.beforeEach(async ({ request }) => {
    await serverSettings(request, { access_secs: 10 });
    await resetCounters(request);
  });

  /** Signs in with the page's clock under Playwright's control, then stops that clock (no
   * timer runs, `Date` stands still) for 15 s of real time: past the refresh time (5 s) and
   * the access token's expiry (10 s) on the server too. Returns the real instant it stopped. */
  async function signInAndSleep(page: Page, request: APIRequestContext): Promise<number> {
    await page.clock.install();
    await signIn(page, 'local');
    await expect(page.locator('#me-result')).toContainText('ada');
    const asleep = Date.now() + 100;
    await page.clock.pauseAt(asleep);
    await resetCounters(request);
    await page.waitForTimeout(15_000);
    expect((await counters(request)).refresh_calls).toBe(0);
    return asleep;
  }

  /** Waits for the one refresh; returns how long it took from `since`, and checks that no
   * second call follows in the next 2 s. */
  async function oneRefreshSince(page: Page, request: APIRequestContext, since: number): Promise<number> {
    await expect.poll(async () => (await counters(request)).refreshes, { intervals: [25], timeout: 5_000 }).toBe(1);
    const latency = Date.now() - since;
    await page.waitForTimeout(2_000);
    expect((await counters(request)).refresh_calls).toBe(1);
    await expect(page.locator('#status')).toHaveText('Authenticated');
    return latency;
  }

  test('a laptop lid closed past the refresh time: one refresh within 1 s of opening', async ({ page, request }) => {
    const asleep = await signInAndSleep(page, request);
    const woke = Date.now();
    // Time jumps; the timers that came due fire late, each once.
    await page.clock.fastForward(woke - asleep);
    await page.clock.resume();
    const latency = await oneRefreshSince(page, request, woke);
    console.log(`lid closed 15 s: wake to refresh ${latency} ms, 1 refresh call`);
    expect(latency).toBeLessThanOrEqual(1_000);
  });

  test('a tab shown again after its timers were held back: one refresh within 1 s', async ({ page, request }) => {
    const asleep = await signInAndSleep(page, request);
    // The wall clock moved on, but the timers did not (they count awake time, or the tab was
    // throttled): the refresh timer would still wait seconds. Then the tab becomes visible.
    await page.clock.setSystemTime(Date.now());
    await page.clock.resume();
    const shown = Date.now();
    await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
    const latency = await oneRefreshSince(page, request, shown);
    console.log(`timers held back 15 s: visible to refresh ${latency} ms (slept ${((shown - asleep) / 1000).toFixed(1)} s), 1 refresh call`);
    expect(latency).toBeLessThanOrEqual(1_000);
  });

  test('offline for 30 s, then online: one refresh, no sign-out', async ({ page, context, request }) => {
    await signIn(page, 'local');
    await expect(page.locator('#me-result')).toContainText('ada');
    await page.evaluate(watchSignedOut);
    await resetCounters(request);
    await context.setOffline(true);
    await page.waitForTimeout(30_000); // the refresh was due at 5 s, the token expired at 10 s
    expect((await counters(request)).refresh_calls).toBe(0);
    const online = Date.now();
    await context.setOffline(false);
    await expect.poll(async () => (await counters(request)).refreshes, { intervals: [25], timeout: 5_000 }).toBe(1);
    const latency = Date.now() - online;
    await page.waitForTimeout(2_000);
    const seen = await counters(request);
    console.log(`offline 30 s: online to refresh ${latency} ms, ${seen.refresh_calls} refresh call(s)`);
    expect(latency).toBeLessThanOrEqual(2_000);
    expect(seen.refresh_calls).toBe(1);
    await expect(page.locator('#status')).toHaveText('Authenticated');
    await page.locator('#call-me').click();
    await expect(page.locator('#me-stats')).toHaveText('calls=2 failures=0');
    expect(await page.evaluate(() => (window as any).__sawSignedOut)).toBe(false);
  });

  test('the notice before the session ends, and the end', async ({ page, request }) => {
    // The refresh token lives 15 s and is not rotated: the session ends 15 s after sign-in.
    await serverSettings(request, { access_secs: 10, refresh_secs: 15, rotate: false });
    await signIn(page, 'local', { path: '/login?next=/tokens' });
    await expect(page.locator('#status')).toHaveText('Authenticated');
    await expect(page.locator('#session-ending')).toBeVisible(); // the demo warns 60 s ahead
    const left = parseFloat(await page.locator('#session-ends').innerText());
    expect(left).toBeGreaterThan(10);
    expect(left).toBeLessThanOrEqual(15);
    await expect(page.locator('#status')).toHaveText('Unauthenticated', { timeout: 20_000 });
    await expect(page).toHaveURL(/\/login/);
  });

  test('with rotation every refresh moves the end later', async ({ page, request }) => {
    await serverSettings(request, { access_secs: 4, refresh_secs: 15, rotate: true });
    await signIn(page, 'local', { path: '/login?next=/tokens' });
    await expect(page.locator('#status')).toHaveText('Authenticated');
    await page.waitForTimeout(20_000);
    await expect(page.locator('#status')).toHaveText('Authenticated');
    const left = parseFloat(await page.locator('#session-ends').innerText());
    console.log(`rotation: 20 s after sign-in with 15 s refresh tokens, the session ends in ${left.toFixed(1)} s`);
    expect(left).toBeGreaterThan(8);
  });
});
