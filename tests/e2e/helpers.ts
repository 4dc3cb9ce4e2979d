import { expect, type APIRequestContext, type Page } from '@playwright/test';

export const API = 'http://127.0.0.1:9000';
export const STORAGES = ['cookie', 'local'] as const;
export type StorageKind = (typeof STORAGES)[number];

export const DEFAULTS = { access_secs: 300, refresh_secs: 86_400, rotate: true, refresh_mode: 'normal' };

/** Sets the demo server's token lifetimes, rotation and refresh failure mode. */
export async function serverSettings(request: APIRequestContext, settings: Partial<typeof DEFAULTS> = {}) {
  const response = await request.post(`${API}/api/test/settings`, { data: { ...DEFAULTS, ...settings } });
  expect(response.ok()).toBeTruthy();
}

export interface Counters {
  logins: number;
  refresh_calls: number;
  refreshes: number;
  refresh_rejected: number;
  me_ok: number;
  me_unauthorized: number;
}

export async function counters(request: APIRequestContext): Promise<Counters> {
  return (await request.get(`${API}/api/counters`)).json();
}

export async function resetCounters(request: APIRequestContext) {
  await request.post(`${API}/api/counters/reset`);
}

/** Opens the login page with the given storage and server dialect and signs in. */
export async function signIn(page: Page, storage: StorageKind, options: { dialect?: string; user?: string; password?: string; path?: string } = {}) {
  const dialect = options.dialect ?? 'simplejwt';
  await page.goto(`${options.path ?? '/login'}${(options.path ?? '/login').includes('?') ? '&' : '?'}storage=${storage}&dialect=${dialect}`);
  await page.locator('#username').fill(options.user ?? 'ada');
  await page.locator('#password').fill(options.password ?? 'lovelace');
  await page.locator('#sign-in').click();
}

/** The stored session record (our JSON), read the way the library stores it. */
export async function storedRecord(page: Page, storage: StorageKind): Promise<any | null> {
  return page.evaluate((storage) => {
    if (storage === 'local') {
      const text = localStorage.getItem('demo_auth');
      return text ? JSON.parse(text) : null;
    }
    const cookie = document.cookie.split('; ').find((c) => c.startsWith('demo_auth='));
    if (!cookie) return null;
    const value = cookie.slice('demo_auth='.length).replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(value), (c) => c.charCodeAt(0))));
  }, storage);
}

/** What a sign-out leaves in storage the tabs share: a marker naming the line that ended, with
 * no token and no user (so that a tab that signed in at the same moment keeps its sign-in). */
export async function expectEndMarker(page: Page, storage: StorageKind) {
  const record = await storedRecord(page, storage);
  expect(record).not.toBeNull();
  expect(Object.keys(record).sort()).toEqual(['ended', 'epoch', 'v']);
}

/** After a session ended by expiry: no token left. The end marker, or for a cookie nothing
 * (the browser drops it at its Max-Age, which may come before the app marks the end). */
export async function expectNoSession(page: Page, storage: StorageKind) {
  const record = await storedRecord(page, storage);
  if (record === null && storage === 'cookie') return;
  expect(record).not.toBeNull();
  expect(Object.keys(record).sort()).toEqual(['ended', 'epoch', 'v']);
}

export async function screenshot(page: Page, name: string) {
  await page.screenshot({ path: `artifacts/${name}.png`, fullPage: true });
}

/** Run in the page (`addInitScript` before a load, or `evaluate`): records in
 * `window.__sawSignedOut` whether the page ever shows the login page or the signed-out status. */
export function watchSignedOut() {
  (window as any).__sawSignedOut = false;
  new MutationObserver(() => {
    const status = document.getElementById('status')?.textContent;
    if (document.querySelector('[data-page=login]') || status === 'Unauthenticated') {
      (window as any).__sawSignedOut = true;
    }
  }).observe(document, { subtree: true, childList: true, characterData: true });
}
