// What both Playwright configs share: one worker (the tests change the server's settings), no
// retries, and Debian's Chromium (no browser download).
import type { LaunchOptions, ReporterDescription } from '@playwright/test';

export const common = {
  testDir: '.',
  workers: 1,
  retries: 0,
  timeout: 90_000,
  reporter: [['list'], ['./summary-reporter.ts']] as ReporterDescription[],
};

export const launchOptions: LaunchOptions = {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
};
