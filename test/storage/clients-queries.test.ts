import { createClientQueries, type ClientQueries, type NewClient } from '../../apps/core/clients/client-queries.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

let t: TestDatabase;
let clients: ClientQueries;
beforeAll(async () => {
  t = await createTestDatabase();
  clients = createClientQueries(t.db);
});
afterAll(() => t.drop());

// Before any row this run creates: the secrets a rotation adds are newer than every fixture.
const T0 = new Date('2020-01-01T00:00:00.000Z');
const later = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

const client = (id: string, extra: Partial<NewClient> = {}): NewClient => ({
  id,
  name: `Client ${id}`,
  metadata: { client_id: id, token_endpoint_auth_method: 'client_secret_basic', redirect_uris: ['https://app.example.test/cb'] },
  firstParty: false,
  ...extra,
});

/** Stores a secret with its own creation time and expiry, as rotations over time leave them. */
const secret = (clientId: string, hash: string, createdAt: Date, expiresAt: Date | null = null) =>
  t.db.clientSecret.create({ data: { clientId, hash, createdAt, expiresAt } });

describe('client queries (clients and client_secrets contract)', () => {
  it('stores a client with its metadata and first secret, and finds it as stored', async () => {
    expect(await clients.create(client('stored', { firstParty: true, secretHash: 'hash-1' }))).toBe(true);
    const found = await clients.find('stored', new Date());
    expect(found).toEqual({
      id: 'stored',
      name: 'Client stored',
      firstParty: true,
      rateLimit: null,
      rateLimitBurst: null,
      metadata: { client_id: 'stored', token_endpoint_auth_method: 'client_secret_basic', redirect_uris: ['https://app.example.test/cb'] },
      createdAt: expect.any(Date),
      secrets: [{ hash: 'hash-1', expiresAt: null }],
    });
  });

  it('stores a client without a secret when given none', async () => {
    await clients.create(client('public', { metadata: { client_id: 'public', token_endpoint_auth_method: 'none' } }));
    expect((await clients.find('public', new Date()))?.secrets).toEqual([]);
    expect(await t.db.clientSecret.count({ where: { clientId: 'public' } })).toBe(0);
  });

  it('refuses a second client with the same id (false) and leaves the first as it was', async () => {
    await clients.create(client('duplicate', { secretHash: 'first-hash' }));
    expect(await clients.create(client('duplicate', { name: 'Other', secretHash: 'second-hash' }))).toBe(false);
    expect(await clients.find('duplicate', new Date())).toMatchObject({ name: 'Client duplicate', secrets: [{ hash: 'first-hash', expiresAt: null }] });
    expect(await t.db.clientSecret.count({ where: { clientId: 'duplicate' } })).toBe(1);
  });

  it('answers undefined for an absent client', async () => {
    expect(await clients.find('absent', new Date())).toBeUndefined();
    expect(await clients.metadata('absent')).toBeUndefined();
    expect(await clients.exists('absent')).toBe(false);
  });

  it('returns only the secrets live at the instant asked, newest first', async () => {
    await clients.create(client('live'));
    await secret('live', 'oldest-forever', later(-300));
    await secret('live', 'middle-until-60', later(-200), later(60));
    await secret('live', 'expired', later(-100), later(-1));
    await secret('live', 'newest', later(-10));
    expect((await clients.find('live', T0))?.secrets).toEqual([
      { hash: 'newest', expiresAt: null },
      { hash: 'middle-until-60', expiresAt: later(60) },
      { hash: 'oldest-forever', expiresAt: null },
    ]);
    // At its expiry a secret is no longer live.
    expect((await clients.find('live', later(60)))?.secrets.map((s) => s.hash)).toEqual(['newest', 'oldest-forever']);
  });

  it('lists every client oldest first, each with its live secrets', async () => {
    await clients.create(client('list-b', { secretHash: 'b-hash' }));
    await clients.create(client('list-a'));
    await t.db.client.update({ where: { id: 'list-b' }, data: { createdAt: new Date('2000-01-02T00:00:00Z') } });
    await t.db.client.update({ where: { id: 'list-a' }, data: { createdAt: new Date('2000-01-01T00:00:00Z') } });
    const listed = await clients.list(new Date());
    expect(listed.slice(0, 2).map((c) => [c.id, c.secrets.map((s) => s.hash)])).toEqual([
      ['list-a', []],
      ['list-b', ['b-hash']],
    ]);
    expect(listed).toHaveLength(await t.db.client.count());
  });

  it('says whether a client exists and reads its metadata', async () => {
    await clients.create(client('meta'));
    expect(await clients.exists('meta')).toBe(true);
    expect(await clients.metadata('meta')).toEqual({
      client_id: 'meta',
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: ['https://app.example.test/cb'],
    });
  });

  it('updates the quota: a value replaces, null clears, an omitted field stays; undefined for an absent client', async () => {
    await clients.create(client('quota', { secretHash: 'quota-hash' }));
    expect(await clients.update('quota', { rateLimit: '5/s', rateLimitBurst: 10 }, new Date())).toMatchObject({
      rateLimit: '5/s',
      rateLimitBurst: 10,
      secrets: [{ hash: 'quota-hash' }],
    });
    expect(await clients.update('quota', { rateLimit: null }, new Date())).toMatchObject({ rateLimit: null, rateLimitBurst: 10 });
    expect(await clients.find('quota', new Date())).toMatchObject({ rateLimit: null, rateLimitBurst: 10 });
    expect(await clients.update('absent', { rateLimitBurst: 1 }, new Date())).toBeUndefined();
  });

  it('replaces the secrets: keeps the newest live one until the grace ends, deletes every other, adds the new one', async () => {
    await clients.create(client('rotate'));
    await secret('rotate', 'older-live', later(-300));
    await secret('rotate', 'expired', later(-200), later(-1));
    await secret('rotate', 'newest-live', later(-100));
    expect(await clients.replaceSecret('rotate', 'fresh', { at: T0, previousUntil: later(3600) })).toEqual({ keptPrevious: true });
    const stored = await t.db.clientSecret.findMany({ where: { clientId: 'rotate' }, orderBy: { createdAt: 'asc' }, select: { hash: true, expiresAt: true } });
    expect(stored).toEqual([
      { hash: 'newest-live', expiresAt: later(3600) },
      { hash: 'fresh', expiresAt: null },
    ]);
  });

  it("keeps a previous secret's earlier expiry rather than lengthening it to the grace", async () => {
    await clients.create(client('rotate-short'));
    await secret('rotate-short', 'ends-soon', later(-100), later(60));
    await clients.replaceSecret('rotate-short', 'fresh', { at: T0, previousUntil: later(3600) });
    expect((await clients.find('rotate-short', T0))?.secrets).toEqual([
      { hash: 'fresh', expiresAt: null },
      { hash: 'ends-soon', expiresAt: later(60) },
    ]);
  });

  it('says when there was no live secret to keep, and leaves only the new one', async () => {
    await clients.create(client('rotate-none'));
    await secret('rotate-none', 'expired', later(-100), later(-1));
    expect(await clients.replaceSecret('rotate-none', 'fresh', { at: T0, previousUntil: later(3600) })).toEqual({ keptPrevious: false });
    expect(await t.db.clientSecret.findMany({ where: { clientId: 'rotate-none' }, select: { hash: true, expiresAt: true } })).toEqual([
      { hash: 'fresh', expiresAt: null },
    ]);
  });
});
