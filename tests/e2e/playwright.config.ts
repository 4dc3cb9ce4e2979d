// End-to-end: the real demo app (trunk serve) against the real demo server, in Debian's
// Chromium. Run through `cargo xtask test` (or `cargo xtask e2e`), which builds the server and
// installs everything first. One worker: the tests share one demo server and change its
// settings.
import { defineConfig } from '@playwright/test';

const root = '../..';

export default defineConfig({
  testDir: '.',
  testMatch: '*.spec.ts',
  testIgnore: 'ssr.spec.ts', // the server-rendered example has its own config (ssr.config.ts)
  workers: 1,
  retries: 0,
  timeout: 90_000,
  reporter: [['list'], ['./summary-reporter.ts']],
  outputDir: 'test-results',
  use: {
    baseURL: 'http://127.0.0.1:8080',
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    },
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
