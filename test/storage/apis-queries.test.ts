import { createApiQueries, type ApiQueries, type NewApi } from '../../apps/core/apis/api-queries.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

let t: TestDatabase;
let apis: ApiQueries;
beforeAll(async () => {
  t = await createTestDatabase();
  apis = createApiQueries(t.db);
  for (const id of ['caller', 'other-caller']) await t.db.client.create({ data: { id, name: id, metadata: { client_id: id } } });
});
afterAll(() => t.drop());

const api = (identifier: string, extra: Partial<NewApi> = {}): NewApi => ({
  identifier,
  name: null,
  scopes: ['read', 'write'],
  tokenFormat: 'jwt',
  ttl: 3600,
  rbac: false,
  ...extra,
});
const created = async (identifier: string, extra: Partial<NewApi> = {}) => (await apis.create(api(identifier, extra)))!;

describe('API queries (apis table contract)', () => {
  it('stores an API and returns it as stored, with an id and a creation time', async () => {
    const stored = await apis.create(api('https://stored.example.test', { name: 'Stored', tokenFormat: 'opaque', ttl: 600, rbac: true }));
    expect(stored).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      identifier: 'https://stored.example.test',
      name: 'Stored',
      scopes: ['read', 'write'],
      tokenFormat: 'opaque',
      ttl: 600,
      rbac: true,
      createdAt: expect.any(Date),
    });
    expect(await apis.findByIdentifier('https://stored.example.test')).toEqual(stored);
  });

  it('refuses a second API with the same identifier (undefined) and leaves the first as it was', async () => {
    const first = await created('https://taken.example.test');
    expect(await apis.create(api('https://taken.example.test', { ttl: 60, scopes: [] }))).toBeUndefined();
    expect(await apis.findByIdentifier('https://taken.example.test')).toEqual(first);
  });

  it('stores an API unless one has the identifier: exactly one of three concurrent callers stores it', async () => {
    const results = await Promise.all([1, 2, 3].map((ttl) => apis.createUnlessExists(api('https://ensured.example.test', { ttl: ttl * 60 }))));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await t.db.api.count({ where: { identifier: 'https://ensured.example.test' } })).toBe(1);
    expect(await apis.createUnlessExists(api('https://ensured.example.test'))).toBe(false);
  });

  it('answers undefined for an absent identifier, and finds only the identifiers that exist', async () => {
    await created('https://found-1.example.test');
    await created('https://found-2.example.test');
    expect(await apis.findByIdentifier('https://absent.example.test')).toBeUndefined();
    const found = await apis.findByIdentifiers(['https://found-2.example.test', 'https://absent.example.test', 'https://found-1.example.test']);
    expect(found.map((a) => a.identifier).sort()).toEqual(['https://found-1.example.test', 'https://found-2.example.test']);
    expect(await apis.findByIdentifiers([])).toEqual([]);
  });

  it('changes RBAC and returns the API as it is then', async () => {
    const stored = await created('https://rbac.example.test');
    expect(await apis.update(stored.id, { rbac: true })).toEqual({ ...stored, rbac: true });
    expect(await apis.update(stored.id, {})).toEqual({ ...stored, rbac: true });
  });

  it('lists every API, oldest first', async () => {
    const [b, a] = [await created('https://list-b.example.test'), await created('https://list-a.example.test')];
    await t.db.api.update({ where: { id: b.id }, data: { createdAt: new Date('2000-01-02T00:00:00Z') } });
    await t.db.api.update({ where: { id: a.id }, data: { createdAt: new Date('2000-01-01T00:00:00Z') } });
    const listed = await apis.list();
    expect(listed.slice(0, 2).map((x) => x.identifier)).toEqual(['https://list-a.example.test', 'https://list-b.example.test']);
    expect(listed).toHaveLength(await t.db.api.count());
  });

  it('answers the longest token lifetime any API sets, and 0 with no API at all', async () => {
    await t.db.api.deleteMany();
    expect(await apis.longestTtl()).toBe(0);
    await created('https://short.example.test', { ttl: 60 });
    await created('https://long.example.test', { ttl: 7200 });
    expect(await apis.longestTtl()).toBe(7200);
  });
});

describe('API queries: what clients may do at an API', () => {
  it('lets a client call an API with scopes, replacing them when allowed again, and lists it with the API', async () => {
    const orders = await created('https://orders.example.test');
    await apis.allowClient('caller', orders.id, ['read']);
    await apis.allowClient('caller', orders.id, ['read', 'write']);
    expect(await apis.allowedFor('caller')).toEqual([{ scopes: ['read', 'write'], api: orders }]);
    expect(await apis.allowedFor('other-caller')).toEqual([]);
    expect(await t.db.clientApi.count({ where: { clientId: 'caller', apiId: orders.id } })).toBe(1);
  });

  it('lets a client exchange tokens for an API, replacing its scopes when allowed again, apart from calling it', async () => {
    const billing = await created('https://billing.example.test');
    await apis.allowExchange('other-caller', billing.id, ['read']);
    await apis.allowExchange('other-caller', billing.id, []);
    expect(await apis.exchangesFor('other-caller')).toEqual([{ scopes: [], api: billing }]);
    expect(await apis.allowedFor('other-caller')).toEqual([]);
  });

  it('makes a client a resource server of APIs, once however often asked, and lists their identifiers', async () => {
    const one = await created('https://served-1.example.test');
    const two = await created('https://served-2.example.test');
    await apis.addResourceServer(one.id, 'caller');
    await apis.addResourceServer(one.id, 'caller');
    await apis.addResourceServer(two.id, 'caller');
    expect((await apis.servedBy('caller')).sort()).toEqual(['https://served-1.example.test', 'https://served-2.example.test']);
    expect(await apis.servedBy('other-caller')).toEqual([]);
    expect(await t.db.resourceServerClient.count({ where: { clientId: 'caller', apiId: one.id } })).toBe(1);
  });
});
