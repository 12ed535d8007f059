import DataLoader from 'dataloader';
import { mergedPerTurn, sqlOf, unlessTaken, type Database, type Prisma } from '../db/database.ts';
import type { User } from '../generated/prisma/client.ts';

export type { User };

/** What a new user is stored with; every other column takes its default. */
export interface NewUser {
  email: string;
  passwordHash: string;
  emailVerified?: boolean;
  name?: string;
  givenName?: string;
  familyName?: string;
  phoneNumber?: string;
  locale?: string;
  address?: Partial<Record<'formatted' | 'street_address' | 'locality' | 'region' | 'postal_code' | 'country', string>>;
}

/** The numbers of lockout.ts's policy that the failure count is written with. */
export interface FailurePolicy {
  threshold: number;
  waitSeconds: number;
  waitIncrementSeconds: number;
  maxWaitSeconds: number;
  resetAfterSeconds: number;
}

/**
 * A user read as plain SQL (database.ts `sqlOf`), shaped as Prisma's User: oidc-provider reads
 * the account on most protocol requests of a login (findAccount), deliberately uncached so a
 * disabled user is refused at once, and Prisma Client's query interpreter doubled that cost.
 */
const userColumns = Object.entries({
  id: 'id',
  email: 'email',
  emailVerified: 'email_verified',
  passwordHash: 'password_hash',
  disabled: 'disabled',
  name: 'name',
  givenName: 'given_name',
  familyName: 'family_name',
  middleName: 'middle_name',
  nickname: 'nickname',
  preferredUsername: 'preferred_username',
  profile: 'profile',
  picture: 'picture',
  website: 'website',
  gender: 'gender',
  birthdate: 'birthdate',
  zoneinfo: 'zoneinfo',
  locale: 'locale',
  phoneNumber: 'phone_number',
  phoneNumberVerified: 'phone_number_verified',
  address: 'address',
  failedLoginCount: 'failed_login_count',
  lastFailedLoginAt: 'last_failed_login_at',
  lockedUntil: 'locked_until',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
} satisfies Record<keyof User, string>)
  .map(([field, column]) => `${column} AS "${field}"`)
  .join(', ');

type UserRow = Omit<User, 'address' | 'lastFailedLoginAt' | 'lockedUntil' | 'createdAt' | 'updatedAt'> & {
  address: string | null;
  lastFailedLoginAt: string | null;
  lockedUntil: string | null;
  createdAt: string;
  updatedAt: string;
};

const userFromRow = (row: UserRow): User => {
  const date = (iso: string | null) => (iso === null ? null : new Date(iso));
  return {
    ...row,
    address: row.address === null ? null : JSON.parse(row.address),
    lastFailedLoginAt: date(row.lastFailedLoginAt),
    lockedUntil: date(row.lockedUntil),
    createdAt: new Date(row.createdAt),
    updatedAt: new Date(row.updatedAt),
  };
};

/**
 * Reads by id, which findAccount makes on most requests of a login and on every token and
 * UserInfo request, merged across concurrent requests (database.ts `mergedPerTurn`). Each caller
 * gets an object of its own, read after it asked.
 */
function createUserReader(db: Database) {
  const loader = new DataLoader<string, User | null>(async (ids) => {
    const rows = await sqlOf(db).rows<UserRow>(`SELECT ${userColumns} FROM users WHERE id = ANY($1::uuid[])`, [[...new Set(ids)]]);
    // PostgreSQL answers a uuid in lower case, whatever case it was asked in.
    const byId = new Map(rows.map((row) => [row.id, row]));
    return ids.map((id) => {
      const row = byId.get(id.toLowerCase());
      return row ? userFromRow(row) : null;
    });
  }, mergedPerTurn);
  return (id: string) => loader.load(id);
}

/**
 * One statement counts a failure and locks, so concurrent failures each see the others' counts:
 * read before a slow password check, a snapshot of the row would be stale by the time the
 * failure is written. SET expressions read the row as it was, so the new count is spelled out
 * where the lock needs it. Timestamps are UTC in `timestamp(3)` columns, as Prisma writes them.
 */
const countFailureSql = `
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
const clearUnlessLockedSql = `
  UPDATE users SET failed_login_count = 0, locked_until = NULL, last_failed_login_at = NULL
  WHERE id = $1::uuid AND (locked_until IS NULL OR locked_until <= $2::timestamp(3))
  RETURNING id`;

const lockedAtSql = 'SELECT locked_until IS NOT NULL AND locked_until > $2::timestamp(3) AS locked FROM users WHERE id = $1::uuid';

/**
 * The users table; plain objects in and out. Ids given to it are UUIDs (the service refuses
 * anything else before asking).
 */
export function createUserQueries(db: Database) {
  const sql = sqlOf(db);
  return {
    /** Stores the user; undefined when a user already has that email. */
    create: (user: NewUser): Promise<User | undefined> => unlessTaken(db.user.create({ data: user })),

    /** By id, merged with the other reads of the same event-loop turn into one statement. */
    find: createUserReader(db),

    /** By email, exactly as stored (the service normalises it). */
    async findByEmail(email: string): Promise<User | null> {
      const [row] = await sql.rows<UserRow>(`SELECT ${userColumns} FROM users WHERE email = $1`, [email]);
      return row ? userFromRow(row) : null;
    },

    /** Every user, oldest first. */
    list: (): Promise<User[]> => db.user.findMany({ orderBy: { createdAt: 'asc' } }),

    exists: async (id: string) => (await db.user.findUnique({ where: { id }, select: { id: true } })) !== null,

    /**
     * Marks the user disabled, and runs `alongside` inside the same transaction, on it: the
     * statements of another domain that must change with the account (its stored sessions).
     */
    disable(id: string, alongside: (tx: Prisma.TransactionClient) => Promise<unknown> = async () => {}): Promise<User> {
      return db.$transaction(async (tx) => {
        const user = await tx.user.update({ where: { id }, data: { disabled: true } });
        await alongside(tx);
        return user;
      });
    },

    async setPasswordHash(id: string, passwordHash: string): Promise<void> {
      await db.user.update({ where: { id }, data: { passwordHash } });
    },

    /**
     * Counts one failed password at `at`, in one statement, and locks the account when the
     * count reaches the policy's threshold. Undefined when there is no such user.
     */
    async countFailure(id: string, at: Date, policy: FailurePolicy): Promise<{ failures: number; lockedUntil: Date | null } | undefined> {
      const [row] = await sql.rows<{ failed_login_count: number; locked_until: string | null }>(countFailureSql, [
        id,
        at.toISOString(),
        policy.resetAfterSeconds,
        policy.threshold,
        policy.waitSeconds,
        policy.waitIncrementSeconds,
        policy.maxWaitSeconds,
      ]);
      return row && { failures: Number(row.failed_login_count), lockedUntil: row.locked_until === null ? null : new Date(row.locked_until) };
    },

    /** Clears the failures, in one statement, unless the account is locked at `at`; false when it is (or there is no such user). */
    clearFailuresUnlessLocked: async (id: string, at: Date) => (await sql.rows(clearUnlessLockedSql, [id, at.toISOString()])).length === 1,

    /** Whether the account is locked at `at`; undefined when there is no such user. */
    async lockedAt(id: string, at: Date): Promise<boolean | undefined> {
      const [row] = await sql.rows<{ locked: boolean }>(lockedAtSql, [id, at.toISOString()]);
      return row?.locked;
    },

    /** Lifts a lockout and forgets the failures, whatever their state. */
    async clearLockout(id: string): Promise<void> {
      await db.user.update({ where: { id }, data: { failedLoginCount: 0, lockedUntil: null, lastFailedLoginAt: null } });
    },
  };
}

export type UserQueries = ReturnType<typeof createUserQueries>;
