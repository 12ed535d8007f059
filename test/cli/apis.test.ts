import { createCli } from '../support/cli.ts';
import { ACCESS_TOKEN_TYPE, clientCredentials, startM2m, TOKEN_EXCHANGE, tokenExchange, type M2mFixture } from '../support/m2m.ts';

const ORDERS = 'https://orders.example.test';
const LEDGER = 'https://ledger.example.test';

let f: M2mFixture;
let cli: Awaited<ReturnType<typeof createCli>>;

const rows = async () => {
  const db = f.database.db;
  return { apis: await db.api.count(), clients: await db.client.count(), grants: await db.clientApi.count(), policies: await db.tokenExchangePolicy.count() };
};
/** Exit 2, one line on stderr naming the problem, nothing on stdout, and no row written. */
async function expectUsageError(args: string[], line: string) {
  const before = await rows();
  expect(await cli.run(...args)).toEqual({ code: 2, stdout: '', stderr: `gatehouse: ${line}\n` });
  expect(await rows()).toEqual(before);
}

beforeAll(async () => {
  f = await startM2m();
  cli = await createCli(f.database.url, f.server.secrets);
});
afterAll(async () => {
  await cli?.close();
  await f?.close();
});

describe('gatehouse api create and list', () => {
  it('registers a JWT API with its scopes and lifetime', async () => {
    const created = await cli.json('api', 'create', '--identifier', ORDERS, '--scopes', 'orders:read orders:write', '--ttl', '600');
    expect(created).toEqual({
      identifier: ORDERS,
      name: null,
      scopes: ['orders:read', 'orders:write'],
      token_format: 'jwt',
      ttl: 600,
      rbac: false,
      created_at: expect.any(String),
      resource_servers: [],
    });
    expect(await f.database.db.api.findUniqueOrThrow({ where: { identifier: ORDERS } })).toMatchObject({
      scopes: ['orders:read', 'orders:write'],
      tokenFormat: 'jwt',
      ttl: 600,
    });
  });

  it('registers an opaque API and says so in one line', async () => {
    const run = await cli.run('api', 'create', '--identifier', LEDGER, '--scopes', 'ledger:read', '--token-format', 'opaque');
    expect(run).toEqual({ code: 0, stdout: `api ${LEDGER} created (opaque tokens, 3600 s, scopes: ledger:read)\n`, stderr: '' });
  });

  it('lists APIs oldest first, as a table and as JSON', async () => {
    const run = await cli.run('api', 'list');
    const [header, ...lines] = run.stdout.trimEnd().split('\n');
    expect(header.split(/\s+/)).toEqual(['IDENTIFIER', 'SCOPES', 'FORMAT', 'TTL', 'RBAC', 'CREATED']);
    // The server registers its own policy decision point's API when it starts.
    const pdp = `${f.server.issuer}/access/v1`;
    expect(lines.map((line) => line.split(/\s{2,}/).slice(0, 4))).toEqual([
      [pdp, 'access:evaluate', 'jwt', '3600'],
      [ORDERS, 'orders:read orders:write', 'jwt', '600'],
      [LEDGER, 'ledger:read', 'opaque', '3600'],
    ]);
    expect((await cli.json('api', 'list')).map((api: { identifier: string }) => api.identifier)).toEqual([pdp, ORDERS, LEDGER]);
  });

  it('refuses bad input with exit 2 and one line naming the option; nothing is written', async () => {
    await expectUsageError(['api', 'create', '--identifier', 'orders'], '--identifier: expected an absolute URI');
    await expectUsageError(['api', 'create', '--identifier', 'https://x.example.test/#frag'], '--identifier: must not contain a fragment');
    await expectUsageError(['api', 'create', '--identifier', 'https://x.example.test', '--token-format', 'paseto'], '--token-format: expected jwt or opaque');
    await expectUsageError(['api', 'create', '--identifier', 'https://x.example.test', '--ttl', '30'], '--ttl: expected at least 60 seconds');
    await expectUsageError(
      ['api', 'create', '--identifier', 'https://x.example.test', '--ttl', 'soon'],
      "--ttl: expected a whole number of seconds (see 'gatehouse api create --help')",
    );
    await expectUsageError(
      ['api', 'create', '--identifier', 'https://x.example.test', '--scopes', 'a "b"'],
      '--scopes: 1: expected scope tokens (no spaces, quotes or backslashes)',
    );
  });

  it('refuses an identifier already registered with exit 1', async () => {
    expect(await cli.run('api', 'create', '--identifier', ORDERS)).toEqual({
      code: 1,
      stdout: '',
      stderr: `gatehouse: an API with identifier ${ORDERS} already exists\n`,
    });
  });
});

describe('gatehouse client create --resource', () => {
  it('lets the client get client_credentials tokens for the API with exactly the allowed scopes', async () => {
    const created = await cli.json(
      'client',
      'create',
      '--name',
      'Reporting',
      '--grant-types',
      'client_credentials',
      '--resource',
      ORDERS,
      '--scope',
      'openid orders:read',
    );
    const client = { clientId: created.client_id, clientSecret: created.client_secret };
    expect(await f.database.db.clientApi.findMany({ where: { clientId: client.clientId }, select: { scopes: true } })).toEqual([{ scopes: ['orders:read'] }]);

    const token = await clientCredentials(f, client, { resource: ORDERS, scope: 'orders:read' });
    expect(token).toMatchObject({ ok: true, token: { scope: 'orders:read' } });
    expect(await clientCredentials(f, client, { resource: ORDERS, scope: 'orders:read orders:write' })).toMatchObject({
      ok: false,
      status: 400,
      error: 'invalid_scope',
    });
  });

  it('gives every scope of the API without --scope', async () => {
    const created = await cli.json('client', 'create', '--name', 'Admin', '--grant-types', 'client_credentials', '--resource', ORDERS);
    const token = await clientCredentials(f, { clientId: created.client_id, clientSecret: created.client_secret }, { scope: 'orders:read orders:write' });
    expect(token).toMatchObject({ ok: true, token: { scope: 'orders:read orders:write' } });
  });

  it('refuses an unknown resource, a bad resource URI and a scope no resource defines with exit 2; no client is written', async () => {
    const create = ['client', 'create', '--name', 'Broken', '--grant-types', 'client_credentials'];
    await expectUsageError(
      [...create, '--resource', ORDERS, '--resource', 'https://unknown.example.test'],
      "--resource 'https://unknown.example.test': no API has this identifier",
    );
    await expectUsageError([...create, '--resource', 'not a uri'], "--resource 'not a uri': expected an absolute URI");
    await expectUsageError(
      [...create, '--resource', ORDERS, '--scope', 'orders:raed'],
      '--scope: orders:raed is neither an OpenID Connect scope nor defined by any of the resources given',
    );
  });
});

describe('gatehouse api allow and allow-exchange', () => {
  let service: { clientId: string; clientSecret: string };

  beforeAll(async () => {
    const created = await cli.json('client', 'create', '--name', 'Gateway', '--grant-types', `client_credentials,${TOKEN_EXCHANGE}`);
    service = { clientId: created.client_id, clientSecret: created.client_secret };
  });

  it('lets a client get tokens for an API with the scopes named', async () => {
    const run = await cli.run('api', 'allow', '--client', service.clientId, '--api', LEDGER, '--scopes', 'ledger:read');
    expect(run).toEqual({ code: 0, stdout: `client ${service.clientId} may get tokens for ${LEDGER} with: ledger:read\n`, stderr: '' });
    expect(await clientCredentials(f, service, { resource: LEDGER, scope: 'ledger:read' })).toMatchObject({ ok: true });
  });

  it('records an exchange policy that the token endpoint then applies', async () => {
    const attempt = () => tokenExchange(f, service, { subject_token: 'not-a-token', subject_token_type: ACCESS_TOKEN_TYPE, resource: ORDERS });
    expect(await attempt()).toMatchObject({ ok: false, error: 'invalid_target' });
    const policy = await cli.json('api', 'allow-exchange', '--client', service.clientId, '--api', ORDERS, '--scopes', 'orders:read');
    expect(policy).toEqual({ clientId: service.clientId, identifier: ORDERS, scopes: ['orders:read'] });
    // Past the policy, the exchange fails on the subject token instead.
    expect(await attempt()).toMatchObject({ ok: false, error: 'invalid_grant' });
  });

  it('says in text which scopes the policy allows', async () => {
    const run = await cli.run('api', 'allow-exchange', '--client', service.clientId, '--api', LEDGER);
    expect(run).toEqual({ code: 0, stdout: `client ${service.clientId} may exchange tokens for ${LEDGER} (scopes: any of the API's)\n`, stderr: '' });
  });

  it('refuses a scope the API does not define with exit 2; nothing is written', async () => {
    await expectUsageError(
      ['api', 'allow', '--client', service.clientId, '--api', ORDERS, '--scopes', 'orders:raed'],
      `--scopes: orders:raed not defined by ${ORDERS}`,
    );
    await expectUsageError(
      ['api', 'allow-exchange', '--client', service.clientId, '--api', ORDERS, '--scopes', 'orders:delete'],
      `--scopes: orders:delete not defined by ${ORDERS}`,
    );
  });

  it('answers an unknown API or client with exit 1, like other lookups by id', async () => {
    expect(await cli.run('api', 'allow-exchange', '--client', service.clientId, '--api', 'https://unknown.example.test')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'gatehouse: no API with identifier https://unknown.example.test\n',
    });
    expect(await cli.run('api', 'allow', '--client', 'nobody', '--api', ORDERS)).toEqual({
      code: 1,
      stdout: '',
      stderr: 'gatehouse: no client with id nobody\n',
    });
  });
});

describe('gatehouse api add-resource-server', () => {
  it("makes a client the API's resource server, which may then introspect the API's tokens", async () => {
    const caller = await f.serviceClient({ resources: [{ identifier: LEDGER }] });
    const ledger = await f.serviceClient();
    expect(await cli.run('api', 'add-resource-server', '--client', ledger.clientId, '--api', LEDGER)).toEqual({
      code: 0,
      stdout: `client ${ledger.clientId} is a resource server of ${LEDGER}\n`,
      stderr: '',
    });
    const issued = await clientCredentials(f, caller, { resource: LEDGER });
    if (!issued.ok) throw new Error(issued.error);
    const response = await fetch(`${f.server.issuer}/token/introspection`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${ledger.clientId}:${ledger.clientSecret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ token: issued.token.access_token }),
    });
    expect(await response.json()).toMatchObject({ active: true, client_id: caller.clientId });
  });

  it('refuses a public client with exit 2: it cannot authenticate as a resource server', async () => {
    const { clientId } = await f.services.clients.create({
      name: 'spa',
      grantTypes: ['authorization_code'],
      authMethod: 'none',
      redirectUris: ['http://127.0.0.1:9/cb'],
    });
    expect(await cli.run('api', 'add-resource-server', '--client', clientId, '--api', LEDGER)).toEqual({
      code: 2,
      stdout: '',
      stderr: `gatehouse: --client: ${clientId} is a public client (none), which cannot authenticate as a resource server\n`,
    });
  });
});

describe('gatehouse api audit', () => {
  it('records API changes in the audit trail, with the CLI as actor (regression: they were not audited)', async () => {
    const AUDITED = 'https://audited.example.test';
    await cli.json('api', 'create', '--identifier', AUDITED, '--scopes', 'a:read');
    const client = await f.serviceClient();
    await cli.json('api', 'allow', '--client', client.clientId, '--api', AUDITED);
    await cli.json('api', 'allow-exchange', '--client', client.clientId, '--api', AUDITED);
    await cli.json('api', 'add-resource-server', '--client', client.clientId, '--api', AUDITED);
    const events = (await f.services.audit.tail({ limit: 10_000 })).filter(
      (e) => e.type.startsWith('api.') && (e.details as { identifier?: string })?.identifier === AUDITED,
    );
    expect(events.map((e) => [e.type, e.actor])).toEqual([
      ['api.created', 'cli'],
      ['api.client_allowed', 'cli'],
      ['api.exchange_allowed', 'cli'],
      ['api.resource_server_added', 'cli'],
    ]);
    expect(events.slice(1).every((e) => e.clientId === client.clientId)).toBe(true);
  });
});
