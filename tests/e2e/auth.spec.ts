// The library end to end, for both storages: sign-in, guard, reload, refresh, expiry, sign-out.
import { expect, test, type Page } from '@playwright/test';
import { API, STORAGES, counters, expectEndMarker, expectNoSession, resetCounters, screenshot, serverSettings, signIn, storedRecord, watchSignedOut } from './helpers';

/** The refresh tokens the page has blacklisted (requests done), in order. */
function watchBlacklist(page: Page): string[] {
  const tokens: string[] = [];
  page.on('requestfinished', (request) => {
    if (request.url().endsWith('/api/token/blacklist/')) {
      tokens.push(JSON.parse(request.postData() ?? '{}').refresh);
    }
  });
  return tokens;
}

for (const storage of STORAGES) {
  test.describe(`${storage} storage`, () => {
    test.beforeEach(async ({ request }) => {
      await serverSettings(request);
      await resetCounters(request);
    });

    test('sign in and see the dashboard', async ({ page }) => {
      await signIn(page, storage);
      await expect(page).toHaveURL('/');
      await expect(page.locator('#status')).toHaveText('Authenticated');
      await expect(page.locator('#me-result')).toContainText('"username":"ada"');
      const record = await storedRecord(page, storage);
      expect(record.v).toBe(1);
      expect(record.refresh_token).toBeTruthy();
      await screenshot(page, `dashboard-${storage}`);
    });

    test('wrong password shows the error', async ({ page }) => {
      await signIn(page, storage, { password: 'wrong' });
      await expect(page.locator('#login-error')).toContainText('No active account found');
      await expect(page.locator('#status')).toHaveText('Unauthenticated');
      expect(await storedRecord(page, storage)).toBeNull();
      await screenshot(page, `login-error-${storage}`);
    });

    test('a protected URL redirects to login and back after sign-in', async ({ page }) => {
      await page.goto(`/tokens?tab=claims&storage=${storage}`);
      await expect(page).toHaveURL(/\/login\?next=%2Ftokens%3Ftab%3Dclaims/);
      await page.locator('#username').fill('ada');
      await page.locator('#password').fill('lovelace');
      await page.locator('#sign-in').click();
      await expect(page).toHaveURL(/\/tokens\?tab=claims/);
      await expect(page.locator('#claims')).toContainText('"username": "ada"');
      await screenshot(page, `tokens-${storage}`);
    });

    test('reload keeps the session with no signed-out frame', async ({ page }) => {
      await signIn(page, storage);
      await expect(page).toHaveURL('/');
      await page.goto('/tokens');
      await expect(page.locator('#countdown')).toContainText(' s');
      await page.addInitScript(watchSignedOut);
      await page.reload();
      await expect(page.locator('#status')).toHaveText('Authenticated');
      await expect(page).toHaveURL('/tokens');
      await page.waitForTimeout(500);
      expect(await page.evaluate(() => (window as any).__sawSignedOut)).toBe(false);
    });

    test('3 s access tokens: 30 s of activity, no 401, refreshes on schedule', async ({ page, request }) => {
      await serverSettings(request, { access_secs: 3 });
      await signIn(page, storage);
      await expect(page.locator('#me-result')).toContainText('ada');
      await resetCounters(request);
      const appBefore = Number(await page.locator('#refresh-count').innerText());
      const started = Date.now();
      let clicks = 0;
      while (Date.now() - started < 30_000) {
        await page.locator('#call-me').click();
        clicks++;
        await page.waitForTimeout(1_000);
      }
      await expect(page.locator('#me-stats')).toHaveText(`calls=${clicks + 1} failures=0`);
      const seen = await counters(request);
      const seconds = (Date.now() - started) / 1000;
      console.log(`${storage}: ${seconds.toFixed(1)} s, ${clicks} calls, ${seen.refreshes} refreshes, ${seen.me_unauthorized} 401s from /api/me`);
      const appRefreshes = Number(await page.locator('#refresh-count').innerText()) - appBefore;
      expect(seen.me_unauthorized).toBe(0);
      expect(seen.refresh_rejected).toBe(0);
      // Every refresh the server served is one the app made and counted.
      expect(Math.abs(appRefreshes - seen.refreshes)).toBeLessThanOrEqual(1);
      // The schedule refreshes at half-life: `exp` is whole seconds, so a "3 s" token lives
      // 2-3 s and is refreshed every 1-1.5 s, 20-30 times in 30 s (plus a request's latency).
      expect(seen.refreshes).toBeGreaterThanOrEqual(18);
      expect(seen.refreshes).toBeLessThanOrEqual(32);
    });

    test('rotation replaces the stored refresh token', async ({ page, request }) => {
      await serverSettings(request, { access_secs: 3, rotate: true });
      await signIn(page, storage);
      await expect(page).toHaveURL('/');
      const before = (await storedRecord(page, storage)).refresh_token;
      await expect.poll(async () => (await counters(request)).refreshes, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
      await expect.poll(async () => (await storedRecord(page, storage)).refresh_token).not.toBe(before);
      const reuse = await request.post(`${API}/api/token/refresh/`, { data: { refresh: before } });
      expect(reuse.status()).toBe(401);
      expect(await reuse.json()).toEqual({ detail: 'Token is blacklisted', code: 'token_not_valid' });
    });

    test('an expired refresh token signs out and the guard redirects', async ({ page, request }) => {
      await serverSettings(request, { access_secs: 2, refresh_secs: 5, rotate: false });
      await signIn(page, storage);
      await expect(page).toHaveURL('/');
      await page.goto('/tokens');
      await expect(page.locator('#status')).toHaveText('Authenticated');
      await expect(page).toHaveURL(/\/login\?next=%2Ftokens/, { timeout: 10_000 });
      await expect(page.locator('#status')).toHaveText('Unauthenticated');
      await expectNoSession(page, storage);
    });

    test('sign-out leaves no token in storage and blacklists the refresh token', async ({ page, request }) => {
      await signIn(page, storage);
      await expect(page).toHaveURL('/');
      const refresh = (await storedRecord(page, storage)).refresh_token;
      const blacklisted = watchBlacklist(page);
      await page.locator('#sign-out').click();
      await expect(page.locator('#status')).toHaveText('Unauthenticated');
      await expect(page).toHaveURL(/\/login\?next=%2F/);
      await expectEndMarker(page, storage);
      // Asked once the blacklist request is done: a token still valid would be rotated (200).
      await expect.poll(() => blacklisted).toEqual([refresh]);
      expect((await request.post(`${API}/api/token/refresh/`, { data: { refresh } })).status()).toBe(401);
    });

    test('a refresh under way at sign-out: the refresh token its answer brings is blacklisted too', async ({ page, request }) => {
      await signIn(page, storage);
      await expect(page).toHaveURL('/');
      const first = (await storedRecord(page, storage)).refresh_token;
      // The server rotates at once; the browser gets the answer only after the sign-out.
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let rotated = '';
      await page.route('**/api/token/refresh/', async (route) => {
        const response = await route.fetch();
        rotated = (await response.json()).refresh ?? '';
        await gate;
        await route.fulfill({ response });
      });
      await page.locator('a[href="/tokens"]').first().click();
      await page.locator('#refresh-now').click();
      await expect.poll(() => rotated).not.toBe('');
      expect(rotated).not.toBe(first);
      const blacklisted = watchBlacklist(page);
      await page.locator('#sign-out').click();
      await expect(page.locator('#status')).toHaveText('Unauthenticated');
      await expect.poll(() => blacklisted).toEqual([first]);
      release();
      await expect.poll(() => blacklisted).toEqual([first, rotated]);
      // (`first` is refused after the rotation anyway: the list above is what shows the revoke.)
      for (const refresh of [first, rotated]) {
        expect((await request.post(`${API}/api/token/refresh/`, { data: { refresh } })).status()).toBe(401);
      }
      await expectEndMarker(page, storage);
      expect(JSON.stringify(await storedRecord(page, storage))).not.toContain(rotated);
    });

    test('crafted ?next= links land on a same-origin page without a crash', async ({ page }) => {
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      const links: [string, string][] = [
        ['/.//evil.example', '/'],
        ['/a/..//evil.example', '/'],
        ['/%2e//evil.example', '/'],
        ['/%2E%2E//evil.example', '/'],
        ['/\\evil.example', '/'],
        ['/./\\evil.example', '/'],
        ['javascript:alert(1)', '/'],
        ['/x/../tokens', '/tokens'],
      ];
      for (const [next, landing] of links) {
        await page.context().clearCookies();
        await page.goto('/');
        await page.evaluate(() => localStorage.clear());
        await signIn(page, storage, { path: `/login?next=${encodeURIComponent(next)}` });
        await expect(page, next).toHaveURL(`http://127.0.0.1:8080${landing}`);
        await expect(page.locator(landing === '/' ? '[data-page=dashboard]' : '[data-page=tokens]'), next).toBeVisible();
        expect(errors, next).toEqual([]);
      }
    });

    test('?next=//evil.example is refused', async ({ page }) => {
      await signIn(page, storage, { path: '/login?next=//evil.example' });
      await expect(page).toHaveURL('http://127.0.0.1:8080/');
      await expect(page.locator('[data-page=dashboard]')).toBeVisible();
    });
  });
}

test.describe('cookie storage beside a foreign cookie of the same name', () => {
  test.beforeEach(async ({ request }) => {
    await serverSettings(request);
  });

  test('a foreign demo_auth at a deeper path is passed over and left alone', async ({ page, context }) => {
    // Another app's cookie (a raw JWT, React Auth Kit style) at /tokens: on that page the
    // browser lists it before ours.
    const foreign = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmb3JlaWduIn0.c2ln';
    await context.addCookies([{ name: 'demo_auth', value: foreign, domain: '127.0.0.1', path: '/tokens' }]);
    await signIn(page, 'cookie', { path: '/login?next=%2Ftokens' });
    await expect(page).toHaveURL('/tokens');
    await page.reload();
    await expect(page.locator('#status')).toHaveText('Authenticated');
    await expect(page).toHaveURL('/tokens');
    const seen = await page.evaluate(() =>
      document.cookie.split('; ').filter((c) => c.startsWith('demo_auth=')).map((c) => c.slice('demo_auth='.length)),
    );
    expect(seen.length).toBe(2);
    expect(seen[0]).toBe(foreign);
    // Signing out leaves the foreign cookie alone; ours keeps only the end marker, no token.
    await page.locator('#sign-out').click();
    await expect(page.locator('[data-page=login]')).toBeVisible();
    const left = (await context.cookies()).filter((c) => c.name === 'demo_auth');
    expect(left.map((c) => c.path).sort()).toEqual(['/', '/tokens']);
    expect(left.find((c) => c.path === '/tokens')?.value).toBe(foreign);
    const ours = left.find((c) => c.path === '/')!;
    const marker = JSON.parse(Buffer.from(ours.value, 'base64url').toString());
    expect(Object.keys(marker).sort()).toEqual(['ended', 'epoch', 'v']);
  });
});
