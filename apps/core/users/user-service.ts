import { z } from 'zod';
import type { AuditLog, RequestContext } from '../audit/audit-log.ts';
import type { Database } from '../db/database.ts';
import { AppError, notFound } from '../errors.ts';
import { createSessionQueries, type SessionQueries } from '../sessions/session-queries.ts';
import { isUuid, normalizeEmail, parseInput } from '../validation.ts';
import { createLockout, type Lockout } from './lockout.ts';
import type { PasswordHasher } from './passwords.ts';
import { createUserQueries, type User, type UserQueries } from './user-queries.ts';

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

export interface UserServiceOptions {
  passwords: PasswordHasher;
  audit?: AuditLog;
  lockout?: Lockout;
  /** Revokes the tokens issued to a user that storage does not hold (JWT access tokens). */
  revokeSubject?: (userId: string) => Promise<void>;
}

/** The user service on its queries (and the sessions it ends), or on a database to make them from. */
export type UserStorage = { queries: UserQueries; sessions: Pick<SessionQueries, 'endForAccount'> } | { db: Database };

export function createUserService(options: UserServiceOptions & UserStorage) {
  const { queries, sessions } = 'db' in options ? { queries: createUserQueries(options.db), sessions: createSessionQueries(options.db) } : options;
  const { passwords, audit, lockout = createLockout({ queries }), revokeSubject = async () => {} } = options;
  const record: AuditLog['record'] = (event) => audit?.record(event) ?? Promise.resolve();
  return {
    async create(input: CreateUserBody): Promise<User> {
      const { password, ...profile } = parseInput(createUserBodySchema, input, 'user');
      const user = await queries.create({ ...profile, passwordHash: await passwords.hash(password) });
      if (!user) throw new AppError('user.email_taken', `a user with email ${profile.email} already exists`, { status: 409 });
      await record({ type: 'user.created', userId: user.id });
      return user;
    },

    find: async (id: string) => (isUuid(id) ? queries.find(id) : null),

    findByEmail: (email: string) => queries.findByEmail(normalizeEmail(email)),

    list: () => queries.list(),

    async disable(id: string): Promise<User> {
      if (!isUuid(id) || !(await queries.exists(id))) throw notFound('user', id);
      // Ending the user's sessions, grants and tokens makes the change bite at once.
      const user = await queries.disable(id, (tx) => sessions.endForAccount(id, tx));
      await revokeSubject(id);
      await record({ type: 'user.disabled', userId: id });
      return user;
    },

    /** Lifts a brute-force lockout and clears the failure count. */
    async unlock(id: string): Promise<User> {
      if (!isUuid(id) || !(await queries.exists(id))) throw notFound('user', id);
      await lockout.unlock(id);
      await record({ type: 'user.unlocked', userId: id });
      return (await queries.find(id))!;
    },

    /**
     * Checks an email and password. Always does one argon2 verification, against a decoy when
     * the account does not exist, so the answer's timing says nothing about which emails exist.
     * Rehashes when the configured argon2 parameters have changed since the hash was made.
     * Failures count towards a temporary lockout (lockout.ts); while locked even the right
     * password is refused, with the same answer and after the same argon2 work.
     */
    async verifyPassword(email: string, password: string, context: RequestContext = {}): Promise<User | undefined> {
      const user = await queries.findByEmail(normalizeEmail(email));
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
        if (lockedUntil)
          void record({ type: 'login.locked_out', userId: user.id, actor: 'system', ...seen, details: { failures, lockedUntil: lockedUntil.toISOString() } });
        return undefined;
      }
      if (!(await lockout.registerSuccess(user))) {
        void record({ type: 'login.failed', userId: user.id, actor: `user:${user.id}`, ...seen, details: { reason: 'locked' } });
        return undefined;
      }
      void record({ type: 'login.succeeded', userId: user.id, actor: `user:${user.id}`, ...seen });
      if (passwords.needsRehash(user.passwordHash)) {
        await queries.setPasswordHash(user.id, await passwords.hash(password));
      }
      return user;
    },
  };
}

export type UserService = ReturnType<typeof createUserService>;
