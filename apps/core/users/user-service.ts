import { z } from 'zod';
import type { AuditLog, RequestContext } from '../audit/audit-log.ts';
import DataLoader from 'dataloader';
import { mergedPerTurn, sqlOf, type Database } from '../db/database.ts';
import { createLockout, type Lockout } from './lockout.ts';
import { AppError, notFound } from '../errors.ts';
import type { PasswordHasher } from './passwords.ts';
import { parseInput } from '../validation.ts';
import type { User } from '../generated/prisma/client.ts';

export type { User };

const addressSchema = z.object({
  formatted: z.string().optional(),
  street_address: z.string().optional(),
  locality: z.string().optional(),
  region: z.string().optional(),
  postal_code: z.string().optional(),
  country: z.string().optional(),
});

export const createUserBodySchema = z.object({
  email: z.email({ error: 'expected an email address' }).trim().toLowerCase(),
  password: z.string().min(8, 'must be at least 8 characters').max(1024, 'must be at most 1024 characters'),
  name: z.string().trim().min(1).max(200).optional(),
  givenName: z.string().trim().max(200).optional(),
  familyName: z.string().trim().max(200).optional(),
  emailVerified: z.boolean().default(false),
  phoneNumber: z.string().trim().max(50).optional(),
  locale: z.string().trim().max(35).optional(),
  address: addressSchema.optional(),
});

export type CreateUserBody = z.input<typeof createUserBodySchema>;

/** The user record as OpenID Connect standard claims (oidc-provider filters them by scope). */
export function standardClaims(user: User): Record<string, unknown> {
  return {
    sub: user.id,
    email: user.email,
    email_verified: user.emailVerified,
    name: user.name ?? undefined,
    given_name: user.givenName ?? undefined,
    family_name: user.familyName ?? undefined,
    middle_name: user.middleName ?? undefined,
    nickname: user.nickname ?? undefined,
    preferred_username: user.preferredUsername ?? undefined,
    profile: user.profile ?? undefined,
    picture: user.picture ?? undefined,
    website: user.website ?? undefined,
    gender: user.gender ?? undefined,
    birthdate: user.birthdate ?? undefined,
    zoneinfo: user.zoneinfo ?? undefined,
    locale: user.locale ?? undefined,
    phone_number: user.phoneNumber ?? undefined,
    phone_number_verified: user.phoneNumber ? user.phoneNumberVerified : undefined,
    address: user.address ?? undefined,
    updated_at: Math.floor(user.updatedAt.getTime() / 1000),
  };
}

/**
 * A user read as plain SQL (database.ts `sqlOf`), shaped as Prisma's User: oidc-provider reads
 * the account on most protocol requests of a login (findAccount), deliberately uncached so a
 * disabled user is refused at once, and Prisma Client's query interpreter doubled that cost.
 */
const userColumns = Object.entries({
  id: 'id', email: 'email', emailVerified: 'email_verified', passwordHash: 'password_hash', disabled: 'disabled',
  name: 'name', givenName: 'given_name', familyName: 'family_name', middleName: 'middle_name', nickname: 'nickname',
  preferredUsername: 'preferred_username', profile: 'profile', picture: 'picture', website: 'website', gender: 'gender',
  birthdate: 'birthdate', zoneinfo: 'zoneinfo', locale: 'locale', phoneNumber: 'phone_number',
  phoneNumberVerified: 'phone_number_verified', address: 'address', failedLoginCount: 'failed_login_count',
  lastFailedLoginAt: 'last_failed_login_at', lockedUntil: 'locked_until', createdAt: 'created_at', updatedAt: 'updated_at',
} satisfies Record<keyof User, string>).map(([field, column]) => `${column} AS "${field}"`).join(', ');

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

async function readUserByEmail(db: Database, email: string): Promise<User | null> {
  const [row] = await sqlOf(db).rows<UserRow>(`SELECT ${userColumns} FROM users WHERE email = $1`, [email]);
  return row ? userFromRow(row) : null;
}

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

const uuidSchema = z.uuid();
const isUuid = (id: string) => uuidSchema.safeParse(id).success;

export const normalizeEmail = (email: string) => email.trim().toLowerCase();

export function createUserService({ db, passwords, audit, lockout = createLockout({ db }), revokeSubject = async () => {} }: {
  db: Database;
  passwords: PasswordHasher;
  audit?: AuditLog;
  lockout?: Lockout;
  /** Revokes the tokens issued to a user that storage does not hold (JWT access tokens). */
  revokeSubject?: (userId: string) => Promise<void>;
}) {
  const record: AuditLog['record'] = (event) => audit?.record(event) ?? Promise.resolve();
  const readUser = createUserReader(db);
  return {
    async create(input: CreateUserBody): Promise<User> {
      const { password, ...profile } = parseInput(createUserBodySchema, input, 'user');
      const passwordHash = await passwords.hash(password);
      try {
        const user = await db.user.create({ data: { ...profile, passwordHash } });
        await record({ type: 'user.created', userId: user.id });
        return user;
      } catch (error) {
        if ((error as { code?: string }).code === 'P2002') {
          throw new AppError('user.email_taken', `a user with email ${profile.email} already exists`, { status: 409 });
        }
        throw error;
      }
    },

    find: async (id: string) => (isUuid(id) ? readUser(id) : null),

    findByEmail: (email: string) => readUserByEmail(db, normalizeEmail(email)),

    list: () => db.user.findMany({ orderBy: { createdAt: 'asc' } }),

    async disable(id: string): Promise<User> {
      if (!isUuid(id) || !(await db.user.findUnique({ where: { id }, select: { id: true } }))) throw notFound('user', id);
      // Ending the user's sessions, grants and tokens makes the change bite at once.
      const [user] = await db.$transaction([
        db.user.update({ where: { id }, data: { disabled: true } }),
        db.oidcPayload.deleteMany({ where: { accountId: id } }),
      ]);
      await revokeSubject(id);
      await record({ type: 'user.disabled', userId: id });
      return user;
    },

    /** Lifts a brute-force lockout and clears the failure count. */
    async unlock(id: string): Promise<User> {
      if (!isUuid(id) || !(await db.user.findUnique({ where: { id }, select: { id: true } }))) throw notFound('user', id);
      await lockout.unlock(id);
      await record({ type: 'user.unlocked', userId: id });
      return (await db.user.findUnique({ where: { id } }))!;
    },

    /**
     * Checks an email and password. Always does one argon2 verification, against a decoy when
     * the account does not exist, so the answer's timing says nothing about which emails exist.
     * Rehashes when the configured argon2 parameters have changed since the hash was made.
     * Failures count towards a temporary lockout (lockout.ts); while locked even the right
     * password is refused, with the same answer and after the same argon2 work.
     */
    async verifyPassword(email: string, password: string, context: RequestContext = {}): Promise<User | undefined> {
      const user = await readUserByEmail(db, normalizeEmail(email));
      const ok = await passwords.verify(user?.passwordHash, password);
      const seen = { ip: context.ip, userAgent: context.userAgent, clientId: context.clientId };
      if (!user || user.disabled) {
        void record({ type: 'login.failed', ...seen, details: { reason: user ? 'disabled' : 'unknown_account' } });
        return undefined;
      }
      if (lockout.isLocked(user)) {
        void record({ type: 'login.failed', userId: user.id, actor: `user:${user.id}`, ...seen, details: { reason: 'locked' } });
        return undefined;
      }
      if (!ok) {
        const { failures, lockedUntil } = await lockout.registerFailure(user);
        void record({ type: 'login.failed', userId: user.id, actor: `user:${user.id}`, ...seen, details: { reason: 'wrong_password', failures } });
        if (lockedUntil) void record({ type: 'login.locked_out', userId: user.id, actor: 'system', ...seen, details: { failures, lockedUntil: lockedUntil.toISOString() } });
        return undefined;
      }
      if (!(await lockout.registerSuccess(user))) {
        void record({ type: 'login.failed', userId: user.id, actor: `user:${user.id}`, ...seen, details: { reason: 'locked' } });
        return undefined;
      }
      void record({ type: 'login.succeeded', userId: user.id, actor: `user:${user.id}`, ...seen });
      if (passwords.needsRehash(user.passwordHash)) {
        await db.user.update({ where: { id: user.id }, data: { passwordHash: await passwords.hash(password) } });
      }
      return user;
    },
  };
}

export type UserService = ReturnType<typeof createUserService>;
