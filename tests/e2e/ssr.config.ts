// End-to-end tests of the server-rendered example (examples/ssr: axum + leptos_axum, the demo
// server's API mounted in the same app), in Debian's Chromium. `cargo xtask test` (or
// `cargo xtask e2e`) builds both halves first: the server binary and target/ssr-site/pkg.
import { defineConfig } from '@playwright/test';
import { common, launchOptions } from './common';

const root = '../..';

export default defineConfig({
  ...common,
  testMatch: 'ssr.spec.ts',
  outputDir: 'test-results/ssr',
  use: {
    baseURL: 'http://127.0.0.1:3000',
    launchOptions,
  },
  webServer: {
    command: `${root}/target/debug/ssr-example`,
    env: {
      LEPTOS_SITE_ADDR: '127.0.0.1:3000',
      LEPTOS_SITE_ROOT: `${root}/target/ssr-site`,
      LEPTOS_SITE_PKG_DIR: 'pkg',
      LEPTOS_OUTPUT_NAME: 'ssr_example',
      SSR_EXAMPLE_TEST_CONTROLS: '1', // the tests set token lifetimes and read counters
    },
    url: 'http://127.0.0.1:3000/api/counters',
    reuseExistingServer: false,
    timeout: 30_000,
    stdout: 'pipe',
  },
});
