import argon2 from 'argon2';
import { createHmac } from 'node:crypto';
import { newClientId } from '../../apps/core/clients/client-service.ts';
import { loadConfig } from '../../apps/core/config/config.ts';
import { createServices, keyActivationDelay } from '../../apps/core/services.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { createCli, type CliRun } from '../support/cli.ts';
import { testSecrets } from '../support/server.ts';

// The real command, spawned as an operator would run it, against a database of its own.
const secrets = testSecrets();
let database: TestDatabase;
let cli: Awaited<ReturnType<typeof createCli>>;

type Run = CliRun;
const gatehouse = (...args: string[]) => cli.run(...args);
/** The password goes in on standard input, as a script would pipe it; never on the command line. */
const withPassword = (password: string, ...args: string[]) => cli.runWithInput(`${password}\n`, ...args);

const json = (run: Run) => {
  expect(run).toMatchObject({ code: 0, stderr: '' });
  return JSON.parse(run.stdout);
};

const hmac = (secret: string) => createHmac('sha256', secrets.clientSecretPepper).update(secret).digest('hex');

beforeAll(async () => {
  database = await createTestDatabase();
  cli = await createCli(database.url, secrets);
});

afterAll(async () => {
  await database?.drop();
  await cli?.close();
});

describe('gatehouse user', () => {
  const password = 'correct horse battery';

  it('creates a user, prints only its id and stores an argon2 hash, never the password', async () => {
    const run = await withPassword(password, 'user', 'create', '--email', 'Alice@Example.com', '--password-stdin', '--name', 'Alice');
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^[0-9a-f-]{36}\n$/);
    const stored = await database.db.user.findUniqueOrThrow({ where: { id: run.stdout.trim() } });
    expect(stored).toMatchObject({ email: 'alice@example.com', name: 'Alice', disabled: false });
    expect(stored.passwordHash).toMatch(/^\$argon2id\$/);
    expect(stored.passwordHash).not.toContain(password);
  });

  it('prints { id, email } with --json', async () => {
    const created = json(await withPassword(password, 'user', 'create', '--email', 'bob@example.com', '--password-stdin', '--json'));
    expect(created).toEqual({ id: expect.any(String), email: 'bob@example.com' });
    expect(await database.db.user.count({ where: { id: created.id } })).toBe(1);
  });

  it('refuses a duplicate email (any case) with exit 1 and the service message', async () => {
    const run = await withPassword(password, 'user', 'create', '--email', 'ALICE@example.com', '--password-stdin');
    expect(run).toEqual({ code: 1, stdout: '', stderr: 'gatehouse: a user with email alice@example.com already exists\n' });
    expect(await database.db.user.count()).toBe(2);
  });

  it('rejects a bad email with exit 2 and one line naming --email; nothing is written', async () => {
    const run = await withPassword(password, 'user', 'create', '--email', 'not-an-email', '--password-stdin');
    expect(run).toEqual({ code: 2, stdout: '', stderr: 'gatehouse: --email: expected an email address\n' });
    expect(await database.db.user.count()).toBe(2);
  });

  it('rejects a short password with exit 2 without echoing it; nothing is written', async () => {
    const run = await withPassword('hunter2', 'user', 'create', '--email', 'carol@example.com', '--password-stdin');
    expect(run).toEqual({ code: 2, stdout: '', stderr: 'gatehouse: password: must be at least 8 characters\n' });
    expect(await database.db.user.count({ where: { email: 'carol@example.com' } })).toBe(0);
  });

  it('takes only the first line of standard input as the password', async () => {
    const created = json(await cli.runWithInput(`${password}\r\nsecond line\n`, 'user', 'create', '--email', 'dave@example.com', '--password-stdin', '--json'));
    const stored = await database.db.user.findUniqueOrThrow({ where: { id: created.id } });
    expect(await argon2.verify(stored.passwordHash, password)).toBe(true);
    await database.db.user.delete({ where: { id: created.id } });
  });

  it('refuses a run without a terminal and without --password-stdin in one line, and writes nothing (the password never goes in argv)', async () => {
    const run = await gatehouse('user', 'create', '--email', 'erin@example.com');
    expect(run).toEqual({
      code: 2,
      stdout: '',
      stderr:
        "gatehouse: no password: pass it on standard input with --password-stdin, or run on a terminal to be asked for it (see 'gatehouse user create --help')\n",
    });
    expect(await database.db.user.count({ where: { email: 'erin@example.com' } })).toBe(0);
  });

  it('no longer takes --password on the command line (regression: it put the password in shell history and ps)', async () => {
    const run = await gatehouse('user', 'create', '--email', 'erin@example.com', '--password', password);
    expect(run).toEqual({ code: 2, stdout: '', stderr: "gatehouse: unknown option --password (see 'gatehouse user create --help')\n" });
  });

  it('refuses --password-stdin with nothing on standard input', async () => {
    expect(await cli.runWithInput('', 'user', 'create', '--email', 'erin@example.com', '--password-stdin')).toEqual({
      code: 2,
      stdout: '',
      stderr: "gatehouse: --password-stdin: the first line of standard input is empty (see 'gatehouse user create --help')\n",
    });
  });

  it('asks for the password twice on a terminal, without echoing it', async () => {
    const run = await cli.runOnTerminal(
      [
        ['Password: ', password],
        ['Repeat password: ', password],
      ],
      'user',
      'create',
      '--email',
      'frank@example.com',
    );
    // Removed whatever the outcome: the tests below list every user.
    const stored = await database.db.user.findUnique({ where: { email: 'frank@example.com' } });
    if (stored) await database.db.user.delete({ where: { id: stored.id } });
    expect(run.code).toBe(0);
    expect(run.output).not.toContain(password);
    expect(run.output).toContain(stored!.id);
    expect(await argon2.verify(stored!.passwordHash, password)).toBe(true);
  });

  it('refuses two different passwords typed on a terminal, and writes nothing', async () => {
    const run = await cli.runOnTerminal(
      [
        ['Password: ', password],
        ['Repeat password: ', `${password}!`],
      ],
      'user',
      'create',
      '--email',
      'gina@example.com',
    );
    expect(run.code).toBe(2);
    expect(run.output).toContain("gatehouse: the two passwords typed differ (see 'gatehouse user create --help')");
    expect(await database.db.user.count({ where: { email: 'gina@example.com' } })).toBe(0);
  });

  it('disables a user, and list shows it', async () => {
    const alice = await database.db.user.findUniqueOrThrow({ where: { email: 'alice@example.com' } });
    const run = await gatehouse('user', 'disable', alice.id);
    expect(run).toEqual({ code: 0, stdout: `disabled user ${alice.id} (alice@example.com)\n`, stderr: '' });
    expect(await database.db.user.findUniqueOrThrow({ where: { id: alice.id } })).toMatchObject({ disabled: true });

    const listed = json(await gatehouse('user', 'list', '--json'));
    expect(listed).toEqual([
      { id: alice.id, email: 'alice@example.com', name: 'Alice', disabled: true, created_at: alice.createdAt.toISOString() },
      { id: expect.any(String), email: 'bob@example.com', name: null, disabled: false, created_at: expect.any(String) },
    ]);
  });

  it('lists users as a table', async () => {
    const run = await gatehouse('user', 'list');
    const [header, ...rows] = run.stdout.trimEnd().split('\n');
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(header.split(/\s+/)).toEqual(['ID', 'EMAIL', 'NAME', 'DISABLED', 'CREATED']);
    expect(rows.map((row) => row.split(/\s+/).slice(1, 4))).toEqual([
      ['alice@example.com', 'Alice', 'yes'],
      ['bob@example.com', '-', 'no'],
    ]);
  });

  it('answers an unknown id with exit 1', async () => {
    const run = await gatehouse('user', 'disable', '00000000-0000-4000-8000-000000000000');
    expect(run).toEqual({ code: 1, stdout: '', stderr: 'gatehouse: no user with id 00000000-0000-4000-8000-000000000000\n' });
  });
});

describe('gatehouse client', () => {
  it('makes client ids that never begin with - or _, so one can follow a command without reading as an option', () => {
    const ids = Array.from({ length: 4000 }, newClientId);
    expect(ids.filter((id) => /^[-_]/.test(id))).toEqual([]);
    expect(ids.every((id) => /^[A-Za-z0-9_-]{22}$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  let webClientId: string;
  let webSecret: string;

  it('creates a client from repeated --redirect-uri, storing arrays and only an HMAC of the secret', async () => {
    const created = json(
      await gatehouse(
        'client',
        'create',
        '--name',
        'Web app',
        '--grant-types',
        'authorization_code,refresh_token',
        '--redirect-uri',
        'https://app.example/cb',
        '--redirect-uri',
        'https://app.example/cb2',
        '--post-logout-redirect-uri',
        'https://app.example/',
        '--scope',
        'openid email',
        '--json',
      ),
    );
    expect(created).toMatchObject({
      client_id: expect.any(String),
      client_secret: expect.any(String),
      client_name: 'Web app',
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: ['https://app.example/cb', 'https://app.example/cb2'],
      token_endpoint_auth_method: 'client_secret_basic',
    });
    webClientId = created.client_id;
    webSecret = created.client_secret;

    const row = await database.db.client.findUniqueOrThrow({ where: { id: webClientId }, include: { secrets: true } });
    expect(row.metadata).toMatchObject({
      redirect_uris: ['https://app.example/cb', 'https://app.example/cb2'],
      post_logout_redirect_uris: ['https://app.example/'],
      scope: 'openid email',
    });
    expect(row.secrets.map((s) => s.hash)).toEqual([hmac(webSecret)]);
    expect(JSON.stringify(row)).not.toContain(webSecret);
  });

  it('prints client_id, the secret once, and says it is shown only once', async () => {
    const run = await gatehouse('client', 'create', '--name', 'Service', '--grant-types', 'client_credentials');
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const [idLine, secretLine, notice, ...rest] = run.stdout.trimEnd().split('\n');
    const clientId = idLine.match(/^client_id: +(\S+)$/)![1];
    const secret = secretLine.match(/^client_secret: +(\S+)$/)![1];
    expect(notice).toBe(`The secret is shown only once: store it now (if it is lost, run 'gatehouse client rotate-secret ${clientId}').`);
    expect(rest).toEqual([]);
    const stored = await database.db.clientSecret.findMany({ where: { clientId } });
    expect(stored.map((s) => s.hash)).toEqual([hmac(secret)]);
  });

  it('rejects authorization_code without a redirect URI with exit 2; nothing is written', async () => {
    const run = await gatehouse('client', 'create', '--name', 'Broken', '--grant-types', 'authorization_code');
    expect(run).toEqual({ code: 2, stdout: '', stderr: 'gatehouse: --redirect-uri: authorization_code needs at least one redirect URI\n' });
    expect(await database.db.client.count({ where: { name: 'Broken' } })).toBe(0);
  });

  it('rejects an unknown grant type with exit 2, naming it; nothing is written', async () => {
    const run = await gatehouse('client', 'create', '--name', 'Broken', '--grant-types', 'client_credentials,password');
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^gatehouse: --grant-types 'password': expected one of authorization_code, refresh_token, client_credentials[^\n]*\n$/);
    expect(await database.db.client.count({ where: { name: 'Broken' } })).toBe(0);
  });

  it('rotates a secret: two live secrets, the previous one expiring after --grace', async () => {
    const before = Date.now();
    const rotated = json(await gatehouse('client', 'rotate-secret', webClientId, '--grace', '600', '--json'));
    expect(rotated).toEqual({ client_id: webClientId, client_secret: expect.any(String), previous_secret_expires_at: expect.any(String) });
    expect(rotated.client_secret).not.toBe(webSecret);

    const stored = await database.db.clientSecret.findMany({ where: { clientId: webClientId }, orderBy: { createdAt: 'asc' } });
    expect(stored.map((s) => s.hash)).toEqual([hmac(webSecret), hmac(rotated.client_secret)]);
    const [previous, current] = stored;
    expect(current.expiresAt).toBeNull();
    expect(previous.expiresAt!.toISOString()).toBe(rotated.previous_secret_expires_at);
    expect(previous.expiresAt!.getTime()).toBeGreaterThanOrEqual(before + 600_000);
    expect(previous.expiresAt!.getTime()).toBeLessThanOrEqual(Date.now() + 600_000);
  });

  it('lists clients with their grant types, auth method and live secrets', async () => {
    const listed = json(await gatehouse('client', 'list', '--json'));
    expect(listed.map((c: Record<string, unknown>) => [c.client_name, c.grant_types, c.token_endpoint_auth_method, c.live_secrets])).toEqual([
      ['Web app', ['authorization_code', 'refresh_token'], 'client_secret_basic', 2],
      ['Service', ['client_credentials'], 'client_secret_basic', 1],
    ]);
    expect(JSON.stringify(listed)).not.toContain(webSecret);
  });
});

describe('gatehouse keys', () => {
  const config = loadConfig({ NODE_ENV: 'test' });

  beforeAll(async () => {
    // What the server does on its first start.
    await createServices({ config, secrets, db: database.db }).keys.ensureKeys();
  });

  it('lists the current keys', async () => {
    const listed = json(await gatehouse('keys', 'list', '--json'));
    expect(listed.map((k: Record<string, unknown>) => [k.alg, k.state])).toEqual(
      expect.arrayContaining([
        ['RS256', 'current'],
        ['ES256', 'current'],
      ]),
    );
    expect(listed).toHaveLength(2);
  });

  it('rotates: a next key per algorithm that signs after the activation delay, the old ones retiring then', async () => {
    const before = Date.now();
    const { created } = json(await gatehouse('keys', 'rotate', '--json'));
    expect(created.map((k: Record<string, unknown>) => [k.alg, k.state])).toEqual([
      ['RS256', 'next'],
      ['ES256', 'next'],
    ]);
    const activatesAt = new Date(created[0].activates_at).getTime();
    expect(activatesAt).toBeGreaterThanOrEqual(before + keyActivationDelay(config) * 1000);

    const rows = await database.db.signingKey.findMany();
    expect(rows).toHaveLength(4);
    const old = rows.filter((row) => !created.some((k: { kid: string }) => k.kid === row.id));
    expect(old.map((row) => row.retiredAt?.getTime())).toEqual([activatesAt, activatesAt]);
  });

  it('lists next and current keys as a table', async () => {
    const run = await gatehouse('keys', 'list');
    const [header, ...rows] = run.stdout.trimEnd().split('\n');
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(header.split(/\s+/)).toEqual(['KID', 'ALG', 'STATE', 'ACTIVATES', 'EXPIRES']);
    expect(rows.map((row) => row.split(/\s+/)[2]).sort()).toEqual(['current', 'current', 'next', 'next']);
  });
});

describe('gatehouse db', () => {
  it('migrate reports nothing to apply on a migrated database', async () => {
    expect(json(await gatehouse('db', 'migrate', '--json'))).toEqual({ applied: [] });
  });
});

describe('gatehouse usage', () => {
  it('answers an unknown command with exit 2 and a pointer to --help', async () => {
    expect(await gatehouse('frobnicate')).toEqual({ code: 2, stdout: '', stderr: "gatehouse: unknown command 'frobnicate' (see 'gatehouse --help')\n" });
  });

  it("answers an unknown option with exit 2 and the command's --help", async () => {
    expect(await gatehouse('client', 'list', '--verbose')).toEqual({
      code: 2,
      stdout: '',
      stderr: "gatehouse: unknown option --verbose (see 'gatehouse client list --help')\n",
    });
  });

  it('says in one line, without a stack trace, that the database cannot be reached', async () => {
    const run = await cli.runWith({ DATABASE_URL: 'postgresql://nobody:x@127.0.0.1:1/none' }, 'user', 'list');
    expect(run).toMatchObject({ code: 1, stdout: '' });
    expect(run.stderr).toBe("gatehouse: cannot reach the database: Can't reach database server at 127.0.0.1:1\n");
  });

  it("prints each command's options with --help", async () => {
    const run = await gatehouse('client', 'create', '--help');
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^Usage: gatehouse client create --name NAME --grant-types LIST \[options\]\n/);
    expect(run.stdout).toContain('--redirect-uri URL');
  });
});
