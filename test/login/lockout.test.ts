import { createAuditLog } from '../../apps/core/audit/audit-log.ts';
import { loadConfig } from '../../apps/core/config/config.ts';
import { createLockout, lockoutSeconds, defaultLockoutPolicy } from '../../apps/core/users/lockout.ts';
import { createPasswordHasher, type PasswordHasher } from '../../apps/core/users/passwords.ts';
import { createUserService } from '../../apps/core/users/user-service.ts';
import { createServices, type Services } from '../../apps/core/services.ts';
import { createTestClock } from '../support/clock.ts';
import { createCookieJar } from '../support/cookie-jar.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { startTestServer, testSecrets, type TestServer } from '../support/server.ts';
import { sample, scrapeMetrics } from '../support/prometheus.ts';
import { authorizationRequest, PASSWORD, signIn, ssoFixtures } from '../support/sso.ts';

const clock = createTestClock();
const ctx = { ip: '192.0.2.10', userAgent: 'jest', clientId: 'some-client' };

let database: TestDatabase;
let services: Services;
let config: ReturnType<typeof loadConfig>;

beforeAll(async () => {
  database = await createTestDatabase();
  config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: database.url,
    LOCKOUT_THRESHOLD: '3',
    LOCKOUT_WAIT: '60',
    LOCKOUT_WAIT_INCREMENT: '60',
    LOCKOUT_MAX_WAIT: '120',
  });
  services = createServices({ config, secrets: testSecrets(), db: database.db, audit: createAuditLog(database.db, { batchMs: 0 }), clock });
});

afterAll(async () => {
  await database.drop();
});

describe('lockout policy', () => {
  it('follows Keycloak: 1 min at the 30th failure, one more minute per failure, at most 15 min', () => {
    expect(lockoutSeconds(defaultLockoutPolicy, 29)).toBe(0);
    expect(lockoutSeconds(defaultLockoutPolicy, 30)).toBe(60);
    expect(lockoutSeconds(defaultLockoutPolicy, 31)).toBe(120);
    expect(lockoutSeconds(defaultLockoutPolicy, 100)).toBe(900);
  });
});

describe('users.verifyPassword brute-force defence', () => {
  it('locks after the threshold, refuses the right password while locked with the same answer, and lets it in after the wait', async () => {
    const user = await services.users.create({ email: 'locked@example.com', password: PASSWORD });
    for (let i = 0; i < 3; i++) expect(await services.users.verifyPassword(user.email, 'wrong password', ctx)).toBeUndefined();

    const row = await database.db.user.findUniqueOrThrow({ where: { id: user.id } });
    expect(row.failedLoginCount).toBe(3);
    expect(row.lockedUntil!.getTime()).toBeGreaterThan(clock() + 59_000);

    expect(await services.users.verifyPassword(user.email, PASSWORD, ctx)).toBeUndefined();

    clock.advance(60_000);
    expect((await services.users.verifyPassword(user.email, PASSWORD, ctx))?.id).toBe(user.id);
    const after = await database.db.user.findUniqueOrThrow({ where: { id: user.id } });
    expect(after.failedLoginCount).toBe(0);
    expect(after.lockedUntil).toBeNull();
  });

  it('lengthens the lockout by the increment for each failure past the threshold', async () => {
    const user = await services.users.create({ email: 'progressive@example.com', password: PASSWORD });
    for (let i = 0; i < 3; i++) await services.users.verifyPassword(user.email, 'wrong', ctx);
    clock.advance(60_000);
    const before = clock();
    await services.users.verifyPassword(user.email, 'wrong', ctx);
    const after = clock();
    const row = await database.db.user.findUniqueOrThrow({ where: { id: user.id } });
    expect(row.failedLoginCount).toBe(4);
    expect(row.lockedUntil!.getTime()).toBeGreaterThanOrEqual(before + 120_000);
    expect(row.lockedUntil!.getTime()).toBeLessThanOrEqual(after + 120_000);
  });

  it('runs one argon2 verification for a locked, an unknown and a disabled account alike, so timing tells none of them apart', async () => {
    // The real hasher, observed: which hash each verification ran against (regression: a timed
    // comparison of the two cases failed on a loaded machine).
    const real = createPasswordHasher(config.argon2);
    const verified: string[] = [];
    const passwords: PasswordHasher = {
      ...real,
      verify: (stored, password) => {
        verified.push(stored ? 'stored hash' : 'decoy');
        return real.verify(stored, password);
      },
    };
    const users = createUserService({ db: database.db, passwords, lockout: createLockout({ db: database.db, policy: config.lockout }) });
    const user = await users.create({ email: 'timing@example.com', password: PASSWORD });
    for (let i = 0; i < 3; i++) await users.verifyPassword(user.email, 'wrong', ctx);

    verified.length = 0;
    expect(await users.verifyPassword(user.email, PASSWORD, ctx)).toBeUndefined();
    expect(verified).toEqual(['stored hash']);

    verified.length = 0;
    expect(await users.verifyPassword('nobody@example.com', PASSWORD, ctx)).toBeUndefined();
    expect(verified).toEqual(['decoy']);

    const disabled = await users.create({ email: 'timing-disabled@example.com', password: PASSWORD });
    await users.disable(disabled.id);
    verified.length = 0;
    expect(await users.verifyPassword(disabled.email, PASSWORD, ctx)).toBeUndefined();
    expect(verified).toEqual(['stored hash']);
  });

  it('gatehouse user unlock lifts a lockout at once (users.unlock)', async () => {
    const user = await services.users.create({ email: 'unlock@example.com', password: PASSWORD });
    for (let i = 0; i < 3; i++) await services.users.verifyPassword(user.email, 'wrong', ctx);
    expect(await services.users.verifyPassword(user.email, PASSWORD, ctx)).toBeUndefined();
    await services.users.unlock(user.id);
    expect((await services.users.verifyPassword(user.email, PASSWORD, ctx))?.id).toBe(user.id);
  });

  it('records login failures, the lockout and the unlock in the audit trail with IP and user agent', async () => {
    const user = await services.users.create({ email: 'audited@example.com', password: PASSWORD });
    for (let i = 0; i < 3; i++) await services.users.verifyPassword(user.email, 'Tr0ub4dor&3-guess', ctx);
    await services.users.unlock(user.id);
    await services.users.verifyPassword(user.email, PASSWORD, ctx);
    const events = await services.audit.tail({ userId: user.id });
    expect(events.map((e) => e.type)).toEqual([
      'user.created',
      'login.failed',
      'login.failed',
      'login.failed',
      'login.locked_out',
      'user.unlocked',
      'login.succeeded',
    ]);
    const failed = events.find((e) => e.type === 'login.failed')!;
    expect(failed).toMatchObject({ ip: ctx.ip, userAgent: ctx.userAgent, clientId: ctx.clientId });
    expect(JSON.stringify(events)).not.toContain('Tr0ub4dor');
    expect(JSON.stringify(events)).not.toContain(PASSWORD);
  });
});

describe('login page while locked', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ databaseUrl: database.url, env: { LOCKOUT_THRESHOLD: '3', LOCKOUT_WAIT: '60' } });
  });

  afterAll(async () => {
    await server.close();
  });

  it('shows the same generic message for wrong passwords and for the right one while locked', async () => {
    const f = ssoFixtures(server);
    const user = await f.createUser('http-locked@example.com');
    const app = await f.createClient();
    const attempt = async (password: string) => {
      const { url } = await authorizationRequest(app.config, app.redirectUri);
      const { callback, pages } = await signIn(createCookieJar(), url, { email: user.email, password, consent: 'allow' });
      return { callback, last: pages.at(-1)! };
    };
    const messages: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { callback, last } = await attempt('wrong password');
      expect(callback).toBeUndefined();
      expect(last.status).toBe(401);
      messages.push(last.html.match(/Invalid email or password\./)?.[0] ?? 'missing');
    }
    const locked = await attempt(PASSWORD);
    expect(locked.callback).toBeUndefined();
    expect(locked.last.status).toBe(401);
    messages.push(locked.last.html.match(/Invalid email or password\./)?.[0] ?? 'missing');
    expect(new Set(messages)).toEqual(new Set(['Invalid email or password.']));
    const metrics = await scrapeMetrics(server.url);
    expect(sample(metrics, 'gatehouse_lockouts_total')).toBe(1);
    expect(sample(metrics, 'gatehouse_logins_total', { outcome: 'failed' })).toBe(3);
    expect(sample(metrics, 'gatehouse_logins_total', { outcome: 'locked' })).toBe(1);

    await f.services.users.unlock(user.id);
    expect((await attempt(PASSWORD)).callback).toMatch(/^http:\/\/127\.0\.0\.1:9\/callback\?code=/);
  });
});
