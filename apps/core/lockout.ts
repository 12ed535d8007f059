import type { Database } from './database.ts';

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

/**
 * Per-account failed-password counting with progressive temporary lockout, on the users
 * table's failed_login_count, last_failed_login_at and locked_until.
 */
export function createLockout({ db, policy = defaultLockoutPolicy, now = () => new Date() }: { db: Database; policy?: LockoutPolicy; now?: () => Date }) {
  return {
    isLocked: (user: LockoutState) => !!user.lockedUntil && user.lockedUntil > now(),

    /** Counts a failure; returns the new count and, when this failure locks, until when. */
    async registerFailure(user: LockoutState): Promise<{ failures: number; lockedUntil?: Date }> {
      const at = now();
      const stale = !user.lastFailedLoginAt || at.getTime() - user.lastFailedLoginAt.getTime() > policy.resetAfterSeconds * 1000;
      // The increment happens in the database, so concurrent failures are all counted.
      const { failedLoginCount: failures } = await db.user.update({
        where: { id: user.id },
        data: { failedLoginCount: stale ? 1 : { increment: 1 }, lastFailedLoginAt: at },
        select: { failedLoginCount: true },
      });
      const seconds = lockoutSeconds(policy, failures);
      if (!seconds) return { failures };
      const lockedUntil = new Date(at.getTime() + seconds * 1000);
      await db.user.update({ where: { id: user.id }, data: { lockedUntil } });
      return { failures, lockedUntil };
    },

    async registerSuccess(user: LockoutState): Promise<void> {
      if (user.failedLoginCount === 0 && !user.lockedUntil) return;
      await db.user.update({ where: { id: user.id }, data: { failedLoginCount: 0, lockedUntil: null, lastFailedLoginAt: null } });
    },

    async unlock(userId: string): Promise<void> {
      await db.user.update({ where: { id: userId }, data: { failedLoginCount: 0, lockedUntil: null, lastFailedLoginAt: null } });
    },
  };
}

export type Lockout = ReturnType<typeof createLockout>;
