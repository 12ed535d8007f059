import { loadConfig } from '../../apps/core/config/config.ts';
import { createServices, type Services } from '../../apps/core/services.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { createCli } from '../support/cli.ts';
import { testSecrets } from '../support/server.ts';

const secrets = testSecrets();
let database: TestDatabase;
let cli: Awaited<ReturnType<typeof createCli>>;
let services: Services;

const gatehouse = (...args: string[]) => cli.run(...args);

beforeAll(async () => {
  database = await createTestDatabase();
  cli = await createCli(database.url, secrets, { LOCKOUT_THRESHOLD: '2' });
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: database.url, LOCKOUT_THRESHOLD: '2' });
  services = createServices({ config, secrets, db: database.db });
});

afterAll(async () => {
  await database.drop();
  await cli.close();
});

describe('gatehouse user unlock and gatehouse audit tail', () => {
  it('unlocks a locked user, and the trail shows the lockout and the unlock done by the CLI', async () => {
    const user = await services.users.create({ email: 'cli-locked@example.com', password: 'a long enough password' });
    for (let i = 0; i < 2; i++) await services.users.verifyPassword(user.email, 'not it', { ip: '192.0.2.1' });
    expect(await services.users.verifyPassword(user.email, 'a long enough password')).toBeUndefined();

    const unlocked = await gatehouse('user', 'unlock', user.id, '--json');
    expect(unlocked.stderr).toBe('');
    expect(unlocked.code).toBe(0);
    expect(JSON.parse(unlocked.stdout)).toMatchObject({ id: user.id, email: user.email });
    expect((await services.users.verifyPassword(user.email, 'a long enough password'))?.id).toBe(user.id);

    const tail = await gatehouse('audit', 'tail', '--user', user.id, '--json');
    expect(tail.code).toBe(0);
    const events = JSON.parse(tail.stdout) as Array<{ type: string; actor: string; ip?: string }>;
    expect(events.map((e) => e.type)).toEqual([
      'user.created',
      'login.failed',
      'login.failed',
      'login.locked_out',
      'login.failed',
      'user.unlocked',
      'login.succeeded',
    ]);
    expect(events.find((e) => e.type === 'user.unlocked')!.actor).toBe('cli');
    expect(events[1].ip).toBe('192.0.2.1');

    const text = await gatehouse('audit', 'tail', '--user', user.id, '--limit', '2');
    expect(text.code).toBe(0);
    expect(text.stdout.split('\n')[0]).toMatch(/^TIME\s+EVENT\s+ACTOR/);
    expect(text.stdout).toContain('user.unlocked');
    expect(text.stdout).toContain('login.succeeded');
  });

  it('reports an unknown user id for unlock with exit code 1', async () => {
    const run = await gatehouse('user', 'unlock', '00000000-0000-4000-8000-000000000000');
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('gatehouse: no user with id 00000000-0000-4000-8000-000000000000\n');
  });

  it('rejects a --limit that is not a positive number as a usage error', async () => {
    const run = await gatehouse('audit', 'tail', '--limit', 'lots');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--limit expects a positive whole number');
  });
});

describe('admin changes in the audit trail', () => {
  it('records client creation, secret rotation and key rotation, as done by the CLI', async () => {
    const created = await gatehouse('client', 'create', '--name', 'audited', '--grant-types', 'client_credentials', '--json');
    expect(created.code).toBe(0);
    const { client_id: clientId } = JSON.parse(created.stdout) as { client_id: string };
    expect((await gatehouse('client', 'rotate-secret', clientId, '--json')).code).toBe(0);
    expect((await gatehouse('keys', 'rotate', '--json')).code).toBe(0);

    const events = await services.audit.tail({ limit: 10 });
    const ofClient = events.filter((e) => e.clientId === clientId);
    expect(ofClient.map((e) => [e.type, e.actor])).toEqual([
      ['client.created', 'cli'],
      ['client.secret_rotated', 'cli'],
    ]);
    expect(events.at(-1)).toMatchObject({ type: 'key.rotated', actor: 'cli' });
  });
});
