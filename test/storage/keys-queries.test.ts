import { createKeyQueries, type KeyQueries, type NewKey } from '../../apps/core/keys/key-queries.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

let t: TestDatabase;
let keys: KeyQueries;
beforeAll(async () => {
  t = await createTestDatabase();
  keys = createKeyQueries(t.db);
});
beforeEach(() => t.db.signingKey.deleteMany());
afterAll(() => t.drop());

const T0 = new Date('2030-01-01T00:00:00.000Z');
const later = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

// Stand-ins: the queries store what they are given; key-service.ts makes and checks real keys.
const key = (id: string, alg: string, activatesAt: Date): NewKey => ({
  id,
  alg,
  publicJwk: { kty: alg === 'ES256' ? 'EC' : 'RSA', kid: id },
  encryptedPrivateJwk: `sealed-${id}`,
  activatesAt,
});

describe('key queries (signing_keys contract)', () => {
  it('stores a key and returns it as stored, not yet retired nor expiring', async () => {
    expect(await keys.create(key('kid-stored', 'ES256', T0))).toEqual({
      id: 'kid-stored',
      alg: 'ES256',
      publicJwk: { kty: 'EC', kid: 'kid-stored' },
      encryptedPrivateJwk: 'sealed-kid-stored',
      createdAt: expect.any(Date),
      activatesAt: T0,
      retiredAt: null,
      expiresAt: null,
    });
  });

  it('refuses a second key with the same kid', async () => {
    await keys.create(key('kid-twice', 'ES256', T0));
    await expect(keys.create(key('kid-twice', 'RS256', later(1)))).rejects.toMatchObject({ code: 'P2002' });
    expect(await t.db.signingKey.findMany({ select: { id: true, alg: true } })).toEqual([{ id: 'kid-twice', alg: 'ES256' }]);
  });

  it('lists the keys published at an instant, the latest to activate first, leaving out those expired by then', async () => {
    await keys.create(key('kid-first', 'RS256', T0));
    await keys.create(key('kid-next', 'RS256', later(600)));
    await keys.create(key('kid-middle', 'ES256', later(60)));
    await keys.create(key('kid-expiring', 'ES256', later(-60)));
    await t.db.signingKey.update({ where: { id: 'kid-expiring' }, data: { expiresAt: later(30) } });
    expect((await keys.published(T0)).map((k) => k.id)).toEqual(['kid-next', 'kid-middle', 'kid-first', 'kid-expiring']);
    // At its expiry a key is no longer published.
    expect((await keys.published(later(30))).map((k) => k.id)).toEqual(['kid-next', 'kid-middle', 'kid-first']);
  });

  it('stores a key unless one of its algorithm is active at the instant; one that only activates later does not count', async () => {
    await keys.create(key('kid-later', 'RS256', later(600)));
    expect(await keys.createUnlessActive(key('kid-rs', 'RS256', T0), T0)).toMatchObject({ id: 'kid-rs', alg: 'RS256', activatesAt: T0 });
    expect(await keys.createUnlessActive(key('kid-rs-again', 'RS256', T0), T0)).toBeUndefined();
    // Another algorithm is another question.
    expect(await keys.createUnlessActive(key('kid-es', 'ES256', T0), T0)).toMatchObject({ id: 'kid-es' });
    expect((await t.db.signingKey.findMany({ orderBy: { id: 'asc' }, select: { id: true } })).map((k) => k.id)).toEqual(['kid-es', 'kid-later', 'kid-rs']);
  });

  it('lets exactly one of five concurrent callers store a key for an algorithm with none', async () => {
    const results = await Promise.all([1, 2, 3, 4, 5].map((n) => keys.createUnlessActive(key(`kid-race-${n}`, 'ES256', T0), T0)));
    expect(results.filter((r) => r !== undefined)).toHaveLength(1);
    expect(await t.db.signingKey.count()).toBe(1);
  });

  it('retires the keys of an algorithm not yet retired, answering how many, and leaves the others alone', async () => {
    await keys.create(key('kid-rs-1', 'RS256', T0));
    await keys.create(key('kid-rs-old', 'RS256', later(-600)));
    await t.db.signingKey.update({ where: { id: 'kid-rs-old' }, data: { retiredAt: later(-1), expiresAt: later(100) } });
    await keys.create(key('kid-es-1', 'ES256', T0));
    expect(await keys.retire('RS256', { retiredAt: later(600), expiresAt: later(4200) })).toBe(1);
    const rows = await t.db.signingKey.findMany({ orderBy: { id: 'asc' }, select: { id: true, retiredAt: true, expiresAt: true } });
    expect(rows).toEqual([
      { id: 'kid-es-1', retiredAt: null, expiresAt: null },
      { id: 'kid-rs-1', retiredAt: later(600), expiresAt: later(4200) },
      { id: 'kid-rs-old', retiredAt: later(-1), expiresAt: later(100) },
    ]);
  });

  it('deletes the keys expired before an instant, answering how many, and keeps those expiring then or never', async () => {
    for (const [id, expiresAt] of [
      ['kid-gone', later(-1)],
      ['kid-at', T0],
      ['kid-later', later(1)],
      ['kid-never', null],
    ] as const) {
      await keys.create(key(id, 'ES256', later(-600)));
      await t.db.signingKey.update({ where: { id }, data: { expiresAt } });
    }
    expect(await keys.deleteExpired(T0)).toBe(1);
    expect((await t.db.signingKey.findMany({ orderBy: { id: 'asc' }, select: { id: true } })).map((k) => k.id)).toEqual(['kid-at', 'kid-later', 'kid-never']);
  });
});
