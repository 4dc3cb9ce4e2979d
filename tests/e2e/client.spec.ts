// AuthClient and the backend adapters against the demo server: one shared refresh for 50
// concurrent 401s, typed failures, both dialects, rotation and blacklisting.
import { expect, test } from '@playwright/test';
import { API, counters, expectEndMarker, resetCounters, screenshot, serverSettings, signIn, storedRecord } from './helpers';

test.beforeEach(async ({ request }) => {
  await serverSettings(request);
  await resetCounters(request);
});

let runs = 0;

/** Clicks "50 concurrent calls" and returns the result line once this run has finished. */
async function burst(page: import('@playwright/test').Page) {
  runs++;
  await page.locator('#burst').click();
  await expect(page.locator('#burst-result')).toContainText(`run=${runs} calls=50`, { timeout: 20_000 });
  return page.locator('#burst-result').innerText();
}

test.beforeEach(() => {
  runs = 0; // every test opens a new page
});

for (const dialect of ['simplejwt', 'sanic']) {
  test(`${dialect}: 50 concurrent calls with a revoked access token share 1 refresh`, async ({ page, request }) => {
    await signIn(page, 'local', { dialect });
    await expect(page.locator('#me-result')).toContainText('ada');
    await resetCounters(request);
    await request.post(`${API}/api/test/revoke-access`);
    const result = await burst(page);
    const seen = await counters(request);
    console.log(`${dialect} burst: ${result}; server: ${seen.refreshes} refresh, ${seen.me_unauthorized} 401s sent, ${seen.me_ok} ok`);
    expect(result).toContain('ok=50 unauthorized=0 failed=0');
    expect(seen.refresh_calls).toBe(1);
    expect(seen.refreshes).toBe(1);
    expect(seen.me_ok).toBe(50);
  });
}

test('a rejected refresh fails all 50 calls with the typed error and signs out', async ({ page, request }) => {
  await signIn(page, 'cookie');
  await expect(page.locator('#me-result')).toContainText('ada');
  await resetCounters(request);
  await request.post(`${API}/api/test/revoke-access`);
  await serverSettings(request, { refresh_mode: 'reject' });
  const result = await burst(page);
  console.log(`rejected refresh burst: ${result}`);
  expect(result).toContain('ok=0 unauthorized=0 failed=50 error=SignedOut');
  await expect(page.locator('#status')).toHaveText('Unauthenticated');
  expect((await counters(request)).refresh_calls).toBe(1);
});

for (const mode of ['error500', 'html']) {
  test(`refresh server failing (${mode}): calls fail as transient and the session stays`, async ({ page, request }) => {
    await signIn(page, 'local');
    await expect(page.locator('#me-result')).toContainText('ada');
    await resetCounters(request);
    await request.post(`${API}/api/test/revoke-access`);
    await serverSettings(request, { refresh_mode: mode });
    const failed = await burst(page);
    console.log(`${mode} burst: ${failed}`);
    expect(failed).toContain('ok=0 unauthorized=0 failed=50 error=RefreshFailed');
    expect((await counters(request)).refresh_calls).toBe(1);
    await expect(page.locator('#status')).toHaveText('Authenticated');
    await serverSettings(request);
    // The scheduled retry (after the backoff) refreshes; then calls succeed again.
    await expect.poll(async () => (await counters(request)).refreshes, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    const recovered = await burst(page);
    expect(recovered).toContain('ok=50 unauthorized=0 failed=0');
  });
}

test('sanic-jwt-extended: fresh and role claims drive the guard', async ({ page }) => {
  await signIn(page, 'local', { dialect: 'sanic' });
  await expect(page).toHaveURL('/');
  await page.goto('/fresh');
  await expect(page.locator('[data-page=fresh]')).toBeVisible();
  await page.goto('/admin');
  await expect(page.locator('[data-page=admin]')).toBeVisible();
  await page.goto('/tokens');
  await page.locator('#refresh-now').click();
  await expect(page.locator('#claims')).toContainText('"fresh": false');
  await page.goto('/fresh');
  await expect(page).toHaveURL(/\/login\?fresh=1&next=%2Ffresh/);
  await expect(page.locator('#fresh-notice')).toBeVisible();
  await screenshot(page, 'fresh-required');
  await page.locator('#username').fill('ada');
  await page.locator('#password').fill('lovelace');
  await page.locator('#sign-in').click();
  await expect(page.locator('[data-page=fresh]')).toBeVisible();
});

test('a user without the role is sent away from the admin page', async ({ page }) => {
  await signIn(page, 'cookie', { dialect: 'sanic', user: 'bob', password: 'builder' });
  await expect(page).toHaveURL('/');
  await page.goto('/admin');
  await expect(page).toHaveURL('http://127.0.0.1:8080/');
});

test('simplejwt: a blacklisted refresh token is rejected and signs out', async ({ page, request }) => {
  await signIn(page, 'local');
  await expect(page).toHaveURL('/');
  const refresh = (await storedRecord(page, 'local')).refresh_token;
  expect((await request.post(`${API}/api/token/blacklist/`, { data: { refresh } })).ok()).toBeTruthy();
  await page.goto('/tokens');
  await page.locator('#refresh-now').click();
  await expect(page).toHaveURL(/\/login\?next=%2Ftokens/);
  await expectEndMarker(page, 'local');
});
