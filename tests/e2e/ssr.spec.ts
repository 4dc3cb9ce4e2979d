// The server-rendered example (examples/ssr) in a real browser: the server renders the signed-in
// pages from the session cookie, redirects without one, and the browser hydrates without a
// mismatch, a flash of "signed out" or a console complaint. Run by ssr.config.ts.
import { expect, test, type APIRequestContext, type BrowserContext, type Page } from '@playwright/test';
import { DEFAULTS } from './helpers';

const COOKIE = 'ssr_auth';

/** The demo server's settings (its API is mounted in the example, on the same origin). */
async function serverSettings(request: APIRequestContext, settings: Partial<typeof DEFAULTS> = {}) {
  const response = await request.post('/api/test/settings', { data: { ...DEFAULTS, ...settings } });
  expect(response.ok()).toBeTruthy();
  expect((await request.post('/api/counters/reset')).ok()).toBeTruthy();
}

async function refreshCalls(request: APIRequestContext): Promise<number> {
  return (await (await request.get('/api/counters')).json()).refresh_calls;
}

/** Every console error or warning and every uncaught exception of the page. */
function watchConsole(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') {
      problems.push(`${message.type()}: ${message.text()}`);
    }
  });
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  return problems;
}

/** Records every text `#status` shows in each document the page loads, from the first parsed
 * byte on (a MutationObserver, so that even a status shown for one frame is caught). */
async function watchStatus(page: Page) {
  await page.addInitScript(() => {
    const seen: string[] = [];
    (window as any).__statusTexts = seen;
    const record = () => {
      const text = document.getElementById('status')?.textContent;
      // (Empty while the parser has the element but not yet its text.)
      if (text && seen[seen.length - 1] !== text) seen.push(text);
    };
    new MutationObserver(record).observe(document, { subtree: true, childList: true, characterData: true });
  });
}

async function statusTexts(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as any).__statusTexts);
}

/** Signs in as ada from the login page and lands on the dashboard. */
async function signIn(page: Page) {
  await page.goto('/login?next=/dashboard');
  await expect(page.locator('#status-log')).not.toBeEmpty(); // hydrated
  await page.locator('#username').fill('ada');
  await page.locator('#password').fill('lovelace');
  await page.locator('#sign-in').click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.locator('#dashboard')).toHaveText('Dashboard of ada');
}

/** The session record in the cookie, decoded as the library stores it. */
async function storedRecord(context: BrowserContext): Promise<any | null> {
  const cookie = (await context.cookies()).find((c) => c.name === COOKIE);
  if (!cookie) return null;
  return JSON.parse(Buffer.from(cookie.value, 'base64url').toString('utf8'));
}

/** Loads `path` and returns the HTML the server sent (before any script ran). */
async function served(page: Page, path: string): Promise<string> {
  const response = await page.goto(path);
  expect(response).not.toBeNull();
  return response!.text();
}

test.beforeEach(async ({ request }) => {
  await serverSettings(request);
});

test('without JavaScript: a valid session cookie renders the dashboard, no cookie gets a 302', async ({ browser, page, request }) => {
  const redirect = await request.get('/dashboard?tab=2', { maxRedirects: 0, headers: { Accept: 'text/html' } });
  expect(redirect.status()).toBe(302);
  expect(redirect.headers()['location']).toBe('/login?next=%2Fdashboard%3Ftab%3D2');

  await signIn(page);
  const record = await storedRecord(page.context());
  const noScript = await browser.newContext({ javaScriptEnabled: false });
  await noScript.addCookies(await page.context().cookies());
  const plain = await noScript.newPage();
  const html = await served(plain, '/dashboard');
  expect(html).toContain('<span id="status">Authenticated</span>');
  await expect(plain.locator('#dashboard')).toHaveText('Dashboard of ada');
  await expect(plain.locator('#user')).toHaveText('ada');
  // The server function checked the JWT's signature before trusting it.
  await expect(plain.locator('#verified')).toHaveText('ada, signature verified by the server');
  expect(html).not.toContain(record.token);
  expect(html).not.toContain(record.refresh_token);
  console.log(`ssr: no cookie -> 302 ${redirect.headers()['location']}; with the cookie, ${html.length} bytes of signed-in HTML`);

  // A forged token (another name, the old signature) still decodes, so the page renders it,
  // but the server function refuses it: only verified tokens are trusted.
  const [header, payload, signature] = record.token.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  claims.username = 'eve';
  const forged = { ...record, token: [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join('.') };
  await noScript.clearCookies();
  await noScript.addCookies([{ name: COOKIE, value: Buffer.from(JSON.stringify(forged)).toString('base64url'), url: 'http://127.0.0.1:3000/' }]);
  await served(plain, '/dashboard');
  await expect(plain.locator('#verified')).toContainText('no verified session');
  // A valid token with another user written beside it: the page shows what the cookie says,
  // the server function names who the verified token says.
  const otherUser = { ...record, user: { username: 'eve', role: 'admin' } };
  // The refresh token (signed with the same key) passed off as the access token: refused.
  const refreshAsAccess = { ...record, token: record.refresh_token };
  for (const [cookie, user, verified] of [
    [otherUser, 'eve', 'ada, signature verified by the server'],
    [refreshAsAccess, 'ada', 'no verified session: the access token was refused: a refresh token is not an access token'],
  ]) {
    await noScript.clearCookies();
    await noScript.addCookies([{ name: COOKIE, value: Buffer.from(JSON.stringify(cookie)).toString('base64url'), url: 'http://127.0.0.1:3000/' }]);
    await served(plain, '/dashboard');
    await expect(plain.locator('#user')).toHaveText(user as string);
    await expect(plain.locator('#verified')).toContainText(verified as string);
  }
  await noScript.close();
});

test('with JavaScript: sign in, reload and navigate without a console error or a signed-out flash', async ({ page }) => {
  const problems = watchConsole(page);
  await watchStatus(page);
  await signIn(page);
  await expect(page.locator('#verified')).toHaveText('ada, signature verified by the server');

  for (let i = 0; i < 3; i++) {
    const html = await served(page, '/dashboard');
    expect(html).toContain('<span id="status">Authenticated</span>');
    expect(html).toMatch(/<h1 id="dashboard">Dashboard of (<!>)?ada<\/h1>/);
    await expect(page.locator('#status-log')).toHaveText('Authenticated'); // hydrated, and nothing else seen
    await page.getByRole('link', { name: 'Home' }).click();
    await expect(page).toHaveURL(/\/$/);
    await page.getByRole('link', { name: 'Dashboard' }).click();
    await expect(page.locator('#dashboard')).toHaveText('Dashboard of ada');
    await page.locator('#call-me').click();
    await expect(page.locator('#me')).toContainText('"username":"ada"');
    await expect(page.locator('#status-log')).toHaveText('Authenticated');
    expect(await statusTexts(page)).toEqual(['Authenticated']); // in the DOM, from the first byte
  }
  console.log(`ssr: 3 reloads and navigations, console problems: ${problems.length}`);
  expect(problems).toEqual([]);
});

test('an expired access token renders Loading on the server and is refreshed, with rotation, right after hydration', async ({ page, request }) => {
  const problems = watchConsole(page);
  await watchStatus(page);
  await serverSettings(request, { access_secs: 3 });
  await signIn(page);
  await page.goto('about:blank'); // nothing refreshes while the page is away
  const before = await storedRecord(page.context());
  await page.waitForTimeout(4_000);
  const calls = await refreshCalls(request);

  const html = await served(page, '/dashboard');
  expect(html).toContain('<span id="status">Loading</span>');
  expect(html).toContain('Checking your session…');
  await expect(page.locator('#dashboard')).toHaveText('Dashboard of ada');
  await expect(page.locator('#status-log')).toHaveText('Loading Authenticated');
  expect(await statusTexts(page)).toEqual(['Loading', 'Authenticated']);
  const after = await storedRecord(page.context());
  expect(after.refresh_token).not.toBe(before.refresh_token);
  expect(after.token).not.toBe(before.token);
  expect(await refreshCalls(request)).toBeGreaterThan(calls);
  // The server function sees the rotated session.
  await expect(page.locator('#verified')).toHaveText('ada, signature verified by the server');
  console.log(`ssr: expired access token -> Loading on the server, refreshed after hydration (${(await refreshCalls(request)) - calls} call(s)), rotated`);
  expect(problems).toEqual([]);
});

test('localStorage: both halves render Loading, and the browser resolves it right after hydration', async ({ page }) => {
  const problems = watchConsole(page);
  await watchStatus(page);
  await page.goto('/');
  await expect(page.locator('#status-log')).not.toBeEmpty(); // hydrated
  await page.locator('#switch-storage').click(); // sets the choice cookie and reloads
  await expect(page.locator('#storage-mode')).toHaveText('localStorage: the server cannot see it');
  await signIn(page);
  expect(await storedRecord(page.context())).toBeNull(); // no session cookie: the server sees nothing
  expect(await page.evaluate(() => localStorage.getItem('ssr_auth_local'))).not.toBeNull();

  for (let i = 0; i < 2; i++) {
    const html = await served(page, '/dashboard');
    expect(html).toContain('<span id="status">Loading</span>');
    expect(html).toContain('Checking your session…');
    expect(html).not.toContain('id="dashboard"');
    await expect(page.locator('#dashboard')).toHaveText('Dashboard of ada');
    expect(await statusTexts(page)).toEqual(['Loading', 'Authenticated']);
    await expect(page.locator('#verified')).toHaveText('The server sees no session.');
  }
  expect(problems).toEqual([]);
});

test('after a sign-out the next server render is signed out', async ({ page }) => {
  const problems = watchConsole(page);
  await signIn(page);
  await page.locator('#sign-out').click();
  await expect(page.locator('#status')).toHaveText('Unauthenticated');
  await expect(page).toHaveURL(/\/login\?next=%2Fdashboard$/);

  const redirect = await page.request.get('/dashboard', { maxRedirects: 0, headers: { Accept: 'text/html' } });
  expect(redirect.status()).toBe(302);
  const html = await served(page, '/');
  expect(html).toContain('<span id="status">Unauthenticated</span>');
  expect(html).toMatch(/<span id="user">(<!>)?<\/span>/); // nobody
  await expect(page.locator('#status-log')).toHaveText('Unauthenticated');
  expect(problems).toEqual([]);
});
