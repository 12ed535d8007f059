import { loadConfig } from '../../apps/core/config/config.ts';
import { createServices, type Services } from '../../apps/core/services.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { testSecrets } from '../support/server.ts';
import { PASSWORD } from '../support/sso.ts';

const ctx = { ip: '192.0.2.10', userAgent: 'jest', clientId: 'some-client' };

let database: TestDatabase;
let services: Services;

beforeAll(async () => {
  database = await createTestDatabase();
  // The default policy: 30 failures lock the account.
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: database.url });
  services = createServices({ config, secrets: testSecrets(), db: database.db });
});

afterAll(() => database.drop());

const row = (id: string) => database.db.user.findUniqueOrThrow({ where: { id } });

describe('account lockout under concurrent attempts (regression: a burst read one stale snapshot and left the count at 1)', () => {
  it('counts every one of 40 concurrent wrong passwords and locks the account', async () => {
    const user = await services.users.create({ email: 'burst@example.com', password: PASSWORD });
    const outcomes = await Promise.all(Array.from({ length: 40 }, (_, i) => services.users.verifyPassword(user.email, `wrong ${i}`, ctx)));
    expect(outcomes.every((o) => o === undefined)).toBe(true);
    const after = await row(user.id);
    expect(after.failedLoginCount).toBe(40);
    expect(after.lockedUntil!.getTime()).toBeGreaterThan(Date.now());
  });

  it('refuses the right password sent in the same burst, after the wrong ones have locked the account', async () => {
    const user = await services.users.create({ email: 'burst-right@example.com', password: PASSWORD });
    const wrong = Array.from({ length: 40 }, (_, i) => services.users.verifyPassword(user.email, `wrong ${i}`, ctx));
    const right = services.users.verifyPassword(user.email, PASSWORD, ctx);
    await Promise.all(wrong);
    expect(await right).toBeUndefined();
    expect((await row(user.id)).lockedUntil).not.toBeNull();
  });

  it('still lets the right password in, and clears the count, when the failures stay under the threshold', async () => {
    const user = await services.users.create({ email: 'burst-under@example.com', password: PASSWORD });
    await Promise.all(Array.from({ length: 10 }, (_, i) => services.users.verifyPassword(user.email, `wrong ${i}`, ctx)));
    expect((await row(user.id)).failedLoginCount).toBe(10);
    expect((await services.users.verifyPassword(user.email, PASSWORD, ctx))?.id).toBe(user.id);
    expect(await row(user.id)).toMatchObject({ failedLoginCount: 0, lockedUntil: null, lastFailedLoginAt: null });
  });
});
