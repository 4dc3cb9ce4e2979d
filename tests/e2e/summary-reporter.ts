// Prints one plain closing line, `e2e: N passed, N failed, N skipped`, that CI can read.
import type { Reporter, TestCase, TestResult } from '@playwright/test/reporter';

export default class SummaryReporter implements Reporter {
  private passed = 0;
  private failed = 0;
  private skipped = 0;

  onTestEnd(test: TestCase, _result: TestResult) {
    // Called once per attempt; the final outcome is what counts (retries are off anyway).
    const outcome = test.outcome();
    if (outcome === 'expected' || outcome === 'flaky') this.passed++;
    else if (outcome === 'skipped') this.skipped++;
    else this.failed++;
  }

  onEnd() {
    console.log(`e2e: ${this.passed} passed, ${this.failed} failed, ${this.skipped} skipped`);
  }
}
