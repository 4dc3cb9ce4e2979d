// The back/forward cache: a page restored from it shows what other tabs did meanwhile. (The
// store re-reads storage on `pageshow`; Chromium also replays a cached page's missed storage
// events, so the engine's own test, not this one, is what isolates the store's part.)
import { expect, test } from '@playwright/test';
import { STORAGES, serverSettings, signIn } from './helpers';

// Playwright turns the back/forward cache off by default (a launch flag); this file needs it.
test.use({
  launchOptions: {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run'],
    ignoreDefaultArgs: ['--disable-back-forward-cache'],
  },
});

for (const storage of STORAGES) {
  test(`back to a page after a sign-out in another tab: it shows signed out (${storage})`, async ({ context, request }) => {
    await serverSettings(request);
    const page = await context.newPage();
    await signIn(page, storage, { path: '/login?next=/tokens' });
    await expect(page.locator('#status')).toHaveText('Authenticated');
    await page.evaluate(() => {
      addEventListener('pageshow', (event) => {
        (window as any).__restored = (event as PageTransitionEvent).persisted;
      });
    });
    await page.goto('http://127.0.0.1:9000/api/counters'); // another origin
    const other = await context.newPage();
    await other.goto('/tokens');
    await expect(other.locator('#status')).toHaveText('Authenticated');
    await other.locator('#sign-out').click();
    await expect(other.locator('#status')).toHaveText('Unauthenticated');
    await page.goBack({ waitUntil: 'commit' });
    await expect(page.locator('#status')).toHaveText('Unauthenticated');
    const restored = await page.evaluate(() => (window as any).__restored === true);
    console.log(`back/forward (${storage}): ${restored ? 'restored from the cache' : 'loaded anew'}, shows signed out`);
    // Whether Chromium cached the page is its call (today: localStorage pages are cached, a
    // cookie page's BroadcastChannel keeps it out); either way it must show signed out.
  });
}
