import { createUserQueries, type FailurePolicy, type UserQueries } from '../../apps/core/users/user-queries.ts';
import { createTestDatabase, statementsDuring, type TestDatabase } from '../support/database.ts';

let t: TestDatabase;
let users: UserQueries;
beforeAll(async () => {
  t = await createTestDatabase();
  users = createUserQueries(t.db);
});
afterAll(() => t.drop());

// Not a real hash: the queries store whatever they are given.
const HASH = 'stored-hash-placeholder';
const ABSENT = '00000000-0000-4000-8000-000000000000';
const policy: FailurePolicy = { threshold: 3, waitSeconds: 60, waitIncrementSeconds: 30, maxWaitSeconds: 100, resetAfterSeconds: 3600 };
const T0 = new Date('2030-01-01T00:00:00.000Z');
const later = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

const newUser = async (email: string) => (await users.create({ email, passwordHash: HASH }))!;
const lockColumns = async (id: string) =>
  t.db.user.findUniqueOrThrow({ where: { id }, select: { failedLoginCount: true, lastFailedLoginAt: true, lockedUntil: true } });

describe('user queries (users table contract)', () => {
  it('stores a user with every profile field given and defaults for the rest, and returns it as stored', async () => {
    const created = await users.create({
      email: 'ada@example.test',
      passwordHash: HASH,
      emailVerified: true,
      name: 'Ada',
      givenName: 'Ada',
      familyName: 'Lovelace',
      phoneNumber: '+1 555 0100',
      locale: 'en-GB',
      address: { locality: 'London', country: 'GB' },
    });
    expect(created).toMatchObject({
      email: 'ada@example.test',
      passwordHash: HASH,
      emailVerified: true,
      disabled: false,
      name: 'Ada',
      givenName: 'Ada',
      familyName: 'Lovelace',
      middleName: null,
      phoneNumber: '+1 555 0100',
      phoneNumberVerified: false,
      locale: 'en-GB',
      address: { locality: 'London', country: 'GB' },
      failedLoginCount: 0,
      lastFailedLoginAt: null,
      lockedUntil: null,
    });
    expect(await t.db.user.findUniqueOrThrow({ where: { id: created!.id } })).toEqual(created);
  });

  it('refuses a second user with the same email (undefined) and leaves the first as it was', async () => {
    const first = await newUser('taken@example.test');
    expect(await users.create({ email: 'taken@example.test', passwordHash: 'another-placeholder', name: 'Impostor' })).toBeUndefined();
    expect(await t.db.user.findUniqueOrThrow({ where: { email: 'taken@example.test' } })).toEqual(first);
    expect(await t.db.user.count({ where: { email: 'taken@example.test' } })).toBe(1);
  });

  it('reads a user by id, through plain SQL, exactly as Prisma Client reads it (dates, JSON address, nulls)', async () => {
    const created = (await users.create({ email: 'shape@example.test', passwordHash: HASH, address: { formatted: '1 Main St' } }))!;
    await users.countFailure(created.id, T0, policy);
    const viaPrisma = await t.db.user.findUniqueOrThrow({ where: { id: created.id } });
    expect(await users.find(created.id)).toEqual(viaPrisma);
    expect(await users.findByEmail('shape@example.test')).toEqual(viaPrisma);
  });

  it('finds by id whatever the case of the uuid, and answers null for an absent one', async () => {
    const user = await newUser('case@example.test');
    expect((await users.find(user.id.toUpperCase()))?.id).toBe(user.id);
    expect(await users.find(ABSENT)).toBeNull();
  });

  it('merges the reads by id of one event-loop turn into one statement, each caller its own object', async () => {
    const [a, b] = [await newUser('merge-a@example.test'), await newUser('merge-b@example.test')];
    let found: unknown[] = [];
    expect(
      await statementsDuring(t.db, async () => {
        found = await Promise.all([users.find(a.id), users.find(b.id), users.find(a.id), users.find(ABSENT)]);
      }),
    ).toBe(1);
    expect(found).toEqual([
      expect.objectContaining({ email: a.email }),
      expect.objectContaining({ email: b.email }),
      expect.objectContaining({ email: a.email }),
      null,
    ]);
    expect(found[0]).not.toBe(found[2]);
  });

  it('finds by email exactly as stored: no normalising here (the service lower-cases)', async () => {
    await newUser('exact@example.test');
    expect((await users.findByEmail('exact@example.test'))?.email).toBe('exact@example.test');
    expect(await users.findByEmail('EXACT@example.test')).toBeNull();
    expect(await users.findByEmail('nobody@example.test')).toBeNull();
  });

  it('lists every user, oldest first', async () => {
    const ids = [await newUser('list-1@example.test'), await newUser('list-2@example.test')].map((u) => u.id);
    await t.db.user.update({ where: { id: ids[0] }, data: { createdAt: new Date('2000-01-02T00:00:00Z') } });
    await t.db.user.update({ where: { id: ids[1] }, data: { createdAt: new Date('2000-01-01T00:00:00Z') } });
    const listed = (await users.list()).map((u) => u.id);
    expect(listed.slice(0, 2)).toEqual([ids[1], ids[0]]);
    expect(listed).toHaveLength(await t.db.user.count());
  });

  it('says whether a user exists', async () => {
    expect(await users.exists((await newUser('exists@example.test')).id)).toBe(true);
    expect(await users.exists(ABSENT)).toBe(false);
  });

  it('disables a user and returns it disabled', async () => {
    const user = await newUser('disable@example.test');
    expect(await users.disable(user.id)).toMatchObject({ id: user.id, disabled: true });
    expect((await users.find(user.id))?.disabled).toBe(true);
  });

  it('runs what goes with disabling in the same transaction: when it fails, the user stays enabled', async () => {
    const user = await newUser('disable-rollback@example.test');
    await expect(
      users.disable(user.id, async (tx) => {
        await tx.auditEvent.create({ data: { type: 'user.disabled', userId: user.id } });
        throw new Error('the second statement failed');
      }),
    ).rejects.toThrow('the second statement failed');
    expect((await users.find(user.id))?.disabled).toBe(false);
    expect(await t.db.auditEvent.count({ where: { userId: user.id } })).toBe(0);
  });

  it('replaces the password hash', async () => {
    const user = await newUser('rehash@example.test');
    await users.setPasswordHash(user.id, 'new-hash-placeholder');
    expect((await users.find(user.id))?.passwordHash).toBe('new-hash-placeholder');
  });
});

describe('user queries: lockout statements', () => {
  it('counts failures in a row and locks at the threshold, for the wait, growing by the increment up to the maximum', async () => {
    const { id } = await newUser('count@example.test');
    expect(await users.countFailure(id, T0, policy)).toEqual({ failures: 1, lockedUntil: null });
    expect(await users.countFailure(id, later(1), policy)).toEqual({ failures: 2, lockedUntil: null });
    expect(await users.countFailure(id, later(2), policy)).toEqual({ failures: 3, lockedUntil: later(2 + 60) });
    expect(await users.countFailure(id, later(3), policy)).toEqual({ failures: 4, lockedUntil: later(3 + 90) });
    expect(await users.countFailure(id, later(4), policy)).toEqual({ failures: 5, lockedUntil: later(4 + 100) });
    expect(await lockColumns(id)).toEqual({ failedLoginCount: 5, lastFailedLoginAt: later(4), lockedUntil: later(104) });
  });

  it('starts counting again from one when the previous failure is older than the reset period', async () => {
    const { id } = await newUser('reset@example.test');
    await users.countFailure(id, T0, policy);
    // Exactly the reset period later still counts on.
    expect(await users.countFailure(id, later(3600), policy)).toEqual({ failures: 2, lockedUntil: null });
    expect(await users.countFailure(id, later(3600 + 3601), policy)).toEqual({ failures: 1, lockedUntil: null });
  });

  it('counts nothing for an absent user (undefined)', async () => {
    expect(await users.countFailure(ABSENT, T0, policy)).toBeUndefined();
  });

  it('counts every one of 40 concurrent failures, each seeing the others: the counts returned are 1 to 40', async () => {
    const { id } = await newUser('concurrent@example.test');
    const counted = await Promise.all(Array.from({ length: 40 }, () => users.countFailure(id, T0, { ...policy, threshold: 1000 })));
    expect(counted.map((c) => c!.failures).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect((await lockColumns(id)).failedLoginCount).toBe(40);
  });

  it('clears the failures unless the account is locked at that instant', async () => {
    const { id } = await newUser('clear@example.test');
    await users.countFailure(id, T0, policy);
    expect(await users.clearFailuresUnlessLocked(id, later(1))).toBe(true);
    expect(await lockColumns(id)).toEqual({ failedLoginCount: 0, lastFailedLoginAt: null, lockedUntil: null });

    for (let i = 0; i < 3; i++) await users.countFailure(id, T0, policy);
    expect(await users.clearFailuresUnlessLocked(id, later(59))).toBe(false);
    expect(await lockColumns(id)).toEqual({ failedLoginCount: 3, lastFailedLoginAt: T0, lockedUntil: later(60) });
    // A lock that has run out is no lock.
    expect(await users.clearFailuresUnlessLocked(id, later(60))).toBe(true);
    expect(await lockColumns(id)).toEqual({ failedLoginCount: 0, lastFailedLoginAt: null, lockedUntil: null });

    expect(await users.clearFailuresUnlessLocked(ABSENT, T0)).toBe(false);
  });

  it('either clears before a concurrent locking failure or loses to it, never both (one statement each)', async () => {
    for (let round = 0; round < 10; round++) {
      const { id } = await newUser(`race-${round}@example.test`);
      for (let i = 0; i < 2; i++) await users.countFailure(id, T0, policy);
      const [counted, cleared] = await Promise.all([users.countFailure(id, later(1), policy), users.clearFailuresUnlessLocked(id, later(1))]);
      const row = await lockColumns(id);
      if (cleared) {
        // The clear went first: the failure then counted from zero.
        expect(counted).toEqual({ failures: 1, lockedUntil: null });
        expect(row).toEqual({ failedLoginCount: 1, lastFailedLoginAt: later(1), lockedUntil: null });
      } else {
        expect(counted).toEqual({ failures: 3, lockedUntil: later(61) });
        expect(row).toEqual({ failedLoginCount: 3, lastFailedLoginAt: later(1), lockedUntil: later(61) });
      }
    }
  });

  it('says whether the account is locked at an instant, and undefined for an absent user', async () => {
    const { id } = await newUser('locked-at@example.test');
    expect(await users.lockedAt(id, T0)).toBe(false);
    for (let i = 0; i < 3; i++) await users.countFailure(id, T0, policy);
    expect(await users.lockedAt(id, later(59))).toBe(true);
    expect(await users.lockedAt(id, later(60))).toBe(false);
    expect(await users.lockedAt(ABSENT, T0)).toBeUndefined();
  });

  it('clears a lockout whatever its state', async () => {
    const { id } = await newUser('unlock@example.test');
    for (let i = 0; i < 3; i++) await users.countFailure(id, T0, policy);
    await users.clearLockout(id);
    expect(await lockColumns(id)).toEqual({ failedLoginCount: 0, lastFailedLoginAt: null, lockedUntil: null });
  });

  it('writes each lockout change with one statement', async () => {
    const { id } = await newUser('one-statement@example.test');
    expect(await statementsDuring(t.db, () => users.countFailure(id, T0, policy))).toBe(1);
    expect(await statementsDuring(t.db, () => users.clearFailuresUnlessLocked(id, T0))).toBe(1);
    expect(await statementsDuring(t.db, () => users.lockedAt(id, T0))).toBe(1);
  });
});
