import { systemClock, type Clock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import { createUserQueries, type UserQueries } from './user-queries.ts';

export interface LockoutPolicy {
  /** Failures in a row that lock the account. */
  threshold: number;
  waitSeconds: number;
  waitIncrementSeconds: number;
  maxWaitSeconds: number;
  /** A failure this long after the previous one starts counting again from one. */
  resetAfterSeconds: number;
}

/** Keycloak's brute-force defaults: 30 failures, then 1 min growing by 1 min per failure up to 15 min, reset after 12 h. */
export const defaultLockoutPolicy: LockoutPolicy = {
  threshold: 30,
  waitSeconds: 60,
  waitIncrementSeconds: 60,
  maxWaitSeconds: 900,
  resetAfterSeconds: 12 * 3600,
};

interface LockoutState {
  id: string;
  failedLoginCount: number;
  lastFailedLoginAt: Date | null;
  lockedUntil: Date | null;
}

/** How long the `failures`-th failure in a row locks the account (0 below the threshold). */
export function lockoutSeconds(policy: LockoutPolicy, failures: number): number {
  if (failures < policy.threshold) return 0;
  return Math.min(policy.waitSeconds + (failures - policy.threshold) * policy.waitIncrementSeconds, policy.maxWaitSeconds);
}

export interface LockoutOptions {
  policy?: LockoutPolicy;
  now?: Clock;
}

type LockoutQueries = Pick<UserQueries, 'countFailure' | 'clearFailuresUnlessLocked' | 'lockedAt' | 'clearLockout'>;

/**
 * Per-account failed-password counting with progressive temporary lockout, on the users
 * table's failed_login_count, last_failed_login_at and locked_until (user-queries.ts writes
 * each change in one statement). `db` makes the queries when none are given.
 */
export function createLockout(options: LockoutOptions & ({ queries: LockoutQueries } | { db: Database })) {
  const { policy = defaultLockoutPolicy, now: clock = systemClock } = options;
  const now = () => new Date(clock());
  const queries = 'queries' in options ? options.queries : createUserQueries(options.db);
  return {
    isLocked: (user: LockoutState) => !!user.lockedUntil && user.lockedUntil > now(),

    /** Counts a failure; returns the new count and, when this failure locks, until when. */
    async registerFailure(user: LockoutState): Promise<{ failures: number; lockedUntil?: Date }> {
      const counted = await queries.countFailure(user.id, now(), policy);
      if (!counted) return { failures: 0 };
      const { failures, lockedUntil } = counted;
      return lockoutSeconds(policy, failures) ? { failures, lockedUntil: lockedUntil! } : { failures };
    },

    /**
     * A right password: clears the failure count, unless a lock was written while the password
     * was being checked (concurrent wrong passwords), in which case it answers false and the
     * sign-in must be refused like any other attempt on a locked account.
     */
    async registerSuccess(user: LockoutState): Promise<boolean> {
      const at = now();
      if (user.failedLoginCount === 0 && !user.lockedUntil) return (await queries.lockedAt(user.id, at)) === false;
      return queries.clearFailuresUnlessLocked(user.id, at);
    },

    unlock: (userId: string) => queries.clearLockout(userId),
  };
}

export type Lockout = ReturnType<typeof createLockout>;
