// Tests that repeat, more slowly, what a faster test already proves in CI (most of them a
// boot or an initramfs build that the e2e migrations also do). `npm run test:slow` runs them
// (OSAM_SLOW_TESTS=1); in `npm test` they are reported as skipped, never as passed.
export const SLOW = process.env.OSAM_SLOW_TESTS === "1";

export function slowOnly(why: string): { skip?: string } {
  return SLOW ? {} : { skip: `slow, runs in npm run test:slow: ${why}` };
}
