// End-to-end: the real demo app (trunk serve) against the real demo server, in Debian's
// Chromium. Run through `cargo xtask test` (or `cargo xtask e2e`), which builds the server and
// installs everything first. One worker: the tests share one demo server and change its
// settings.
import { defineConfig } from '@playwright/test';
import { common, launchOptions } from './common';

const root = '../..';

export default defineConfig({
  ...common,
  testMatch: '*.spec.ts',
  testIgnore: 'ssr.spec.ts', // the server-rendered example has its own config (ssr.config.ts)
  outputDir: 'test-results',
  use: {
    baseURL: 'http://127.0.0.1:8080',
    launchOptions,
  },
  webServer: [
    {
      command: `${root}/target/debug/demo-server --port 9000`,
      url: 'http://127.0.0.1:9000/api/counters',
      reuseExistingServer: false,
      timeout: 30_000,
      stdout: 'pipe',
    },
    {
      command: 'trunk serve --no-autoreload',
      cwd: root,
      url: 'http://127.0.0.1:8080/',
      reuseExistingServer: false,
      timeout: 600_000, // a cold build of the demo takes minutes
      stdout: 'ignore',
    },
  ],
});
