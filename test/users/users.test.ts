import { loadConfig } from '../../apps/core/config/config.ts';
import { createServices, type Services } from '../../apps/core/services.ts';
import { createTestDatabase, statementsDuring, type TestDatabase } from '../support/database.ts';
import { testSecrets } from '../support/server.ts';

let database: TestDatabase;
let services: Services;

beforeAll(async () => {
  database = await createTestDatabase();
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: database.url, ARGON2_MEMORY_KIB: '8192', ARGON2_TIME_COST: '5' });
  services = createServices({ config, secrets: testSecrets(), db: database.db });
});
afterAll(() => database.drop());

describe('users.find (oidc-provider findAccount)', () => {
  it('reads the users concurrent requests ask for with one statement, each caller its own object', async () => {
    const created = await Promise.all(
      ['ada', 'grace', 'edsger'].map((name) => services.users.create({ email: `${name}@example.test`, password: 'correct horse battery staple', name })),
    );
    const ids = [...created.map((u) => u.id), created[0].id, created[0].id.toUpperCase()];
    let found: Awaited<ReturnType<Services['users']['find']>>[] = [];
    const statements = await statementsDuring(database.db, async () => {
      found = await Promise.all([...ids, '00000000-0000-4000-8000-000000000000'].map((id) => services.users.find(id)));
    });
    expect(statements).toBe(1);
    expect(found.map((u) => u?.name)).toEqual(['ada', 'grace', 'edsger', 'ada', 'ada', undefined]);
    expect(found[0]).not.toBe(found[3]);
    expect(found[0]?.createdAt).toBeInstanceOf(Date);
  });

  it('answers null for an id that is not a UUID without asking the database', async () => {
    expect(await statementsDuring(database.db, async () => expect(await services.users.find('not-a-uuid')).toBeNull())).toBe(0);
  });

  it('sees a change made after the last read: nothing is cached, so a disabled account bites at once', async () => {
    const user = await services.users.create({ email: 'soon-disabled@example.test', password: 'correct horse battery staple' });
    expect((await services.users.find(user.id))?.disabled).toBe(false);
    await services.users.disable(user.id);
    expect((await services.users.find(user.id))?.disabled).toBe(true);
  });
});
