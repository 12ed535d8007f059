import { sqlOf, type Database } from '../db/database.ts';

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
 * One statement counts a failure and locks, so concurrent failures each see the others' counts:
 * read before a slow password check, a snapshot of the row would be stale by the time the
 * failure is written. SET expressions read the row as it was, so the new count is spelled out
 * where the lock needs it. Timestamps are UTC in `timestamp(3)` columns, as Prisma writes them.
 */
const countFailure = `
  UPDATE users SET
    failed_login_count = CASE WHEN last_failed_login_at IS NULL OR last_failed_login_at < $2::timestamp(3) - make_interval(secs => $3) THEN 1 ELSE failed_login_count + 1 END,
    last_failed_login_at = $2::timestamp(3),
    locked_until = CASE
      WHEN (CASE WHEN last_failed_login_at IS NULL OR last_failed_login_at < $2::timestamp(3) - make_interval(secs => $3) THEN 1 ELSE failed_login_count + 1 END) >= $4
      THEN $2::timestamp(3) + make_interval(secs => least($5 + ((CASE WHEN last_failed_login_at IS NULL OR last_failed_login_at < $2::timestamp(3) - make_interval(secs => $3) THEN 1 ELSE failed_login_count + 1 END) - $4) * $6, $7))
      ELSE locked_until END
  WHERE id = $1::uuid
  RETURNING failed_login_count, locked_until`;

/** Clears the count unless the row is locked now; no row back means a lock won the race. */
const clearUnlessLocked = `
  UPDATE users SET failed_login_count = 0, locked_until = NULL, last_failed_login_at = NULL
  WHERE id = $1::uuid AND (locked_until IS NULL OR locked_until <= $2::timestamp(3))
  RETURNING id`;

const lockedNow = 'SELECT locked_until IS NOT NULL AND locked_until > $2::timestamp(3) AS locked FROM users WHERE id = $1::uuid';

/**
 * Per-account failed-password counting with progressive temporary lockout, on the users
 * table's failed_login_count, last_failed_login_at and locked_until.
 */
export function createLockout({ db, policy = defaultLockoutPolicy, now = () => new Date() }: { db: Database; policy?: LockoutPolicy; now?: () => Date }) {
  const sql = sqlOf(db);
  return {
    isLocked: (user: LockoutState) => !!user.lockedUntil && user.lockedUntil > now(),

    /** Counts a failure; returns the new count and, when this failure locks, until when. */
    async registerFailure(user: LockoutState): Promise<{ failures: number; lockedUntil?: Date }> {
      const at = now();
      const [row] = await sql.rows<{ failed_login_count: number; locked_until: string | null }>(countFailure, [
        user.id, at.toISOString(), policy.resetAfterSeconds, policy.threshold, policy.waitSeconds, policy.waitIncrementSeconds, policy.maxWaitSeconds,
      ]);
      if (!row) return { failures: 0 };
      const failures = Number(row.failed_login_count);
      return lockoutSeconds(policy, failures) ? { failures, lockedUntil: new Date(row.locked_until!) } : { failures };
    },

    /**
     * A right password: clears the failure count, unless a lock was written while the password
     * was being checked (concurrent wrong passwords), in which case it answers false and the
     * sign-in must be refused like any other attempt on a locked account.
     */
    async registerSuccess(user: LockoutState): Promise<boolean> {
      const at = now().toISOString();
      if (user.failedLoginCount === 0 && !user.lockedUntil) {
        const [row] = await sql.rows<{ locked: boolean }>(lockedNow, [user.id, at]);
        return !!row && !row.locked;
      }
      return (await sql.rows(clearUnlessLocked, [user.id, at])).length === 1;
    },

    async unlock(userId: string): Promise<void> {
      await db.user.update({ where: { id: userId }, data: { failedLoginCount: 0, lockedUntil: null, lastFailedLoginAt: null } });
    },
  };
}

export type Lockout = ReturnType<typeof createLockout>;
