import { jest } from '@jest/globals';
import type { Clock } from '../../apps/core/clock.ts';

export type TestClock = Clock & {
  /** Moves this clock forward; real time keeps passing on top of it. */
  advance(ms: number): void;
};

/**
 * Real time plus an offset the test moves forward: what a test passes as Gatehouse's clock to
 * skip a TTL, a lockout or a refill instead of sleeping through it. Time still passes between
 * calls, as it does for the rate limits and timers of a running server.
 */
export function createTestClock(): TestClock {
  let offset = 0;
  return Object.assign(() => Date.now() + offset, {
    advance(ms: number) {
      offset += ms;
    },
  });
}

/**
 * Fakes Date for the whole test process, to move time for what oidc-provider times with its own
 * clock (auth_time, max_age, its artifacts' TTLs), which no clock passed to Gatehouse reaches.
 * The server runs in this process, so it, Gatehouse's default clock and the relying-party library
 * all see each move, as oidc-provider's own tests do with timekeeper. Only Date is faked: timers,
 * ticks and performance stay real, and Date keeps advancing with real time.
 * Install it before the server starts and restore it after the server has closed: time must not
 * go back under a running server (its rate-limit buckets would read as spent far ahead).
 * PostgreSQL's own now() does not move.
 */
export function fakeDate() {
  jest.useFakeTimers({
    doNotFake: [
      'hrtime',
      'nextTick',
      'performance',
      'queueMicrotask',
      'requestAnimationFrame',
      'cancelAnimationFrame',
      'requestIdleCallback',
      'cancelIdleCallback',
      'setImmediate',
      'clearImmediate',
      'setInterval',
      'clearInterval',
      'setTimeout',
      'clearTimeout',
    ],
    advanceTimers: true,
  });
  return {
    travel: (ms: number) => jest.setSystemTime(Date.now() + ms),
    restore: () => jest.useRealTimers(),
  };
}
