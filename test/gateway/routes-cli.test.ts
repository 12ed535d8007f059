import { createCli } from '../support/cli.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { ORDERS, ORDERS_HOST, nginxHeaders, startGateway, type GatewayFixture } from './gateway-fixture.ts';

let f: GatewayFixture;
let second: TestServer;
let cli: Awaited<ReturnType<typeof createCli>>;

const routeCount = () => f.database.db.edgeRoute.count();

/** Exit 2, one line on stderr naming the problem, and no route written. */
async function expectRefused(args: string[], line: string) {
  const before = await routeCount();
  expect(await cli.run('route', 'add', ...args)).toEqual({ code: 2, stdout: '', stderr: `gatehouse: ${line}\n` });
  expect(await routeCount()).toBe(before);
}

beforeAll(async () => {
  f = await startGateway({
    env: { EDGE_ROUTE_REFRESH_INTERVAL: '1' },
    async setup(services) {
      await services.apis.create({ identifier: ORDERS, scopes: ['orders:read', 'orders:write'] });
    },
  });
  // A second instance of the same Gatehouse (issuer, database, secrets): what one CLI change reaches.
  second = await startTestServer({
    databaseUrl: f.database.url,
    secrets: f.server.secrets,
    env: { ISSUER: f.server.issuer, CLIENT_CACHE_TTL: '0', RATE_LIMIT_ENABLED: 'false', EDGE_ROUTE_REFRESH_INTERVAL: '1' },
  });
  cli = await createCli(f.database.url, f.server.secrets);
});
afterAll(async () => {
  await cli?.close();
  await second?.close();
  await f?.close();
});

describe('gatehouse route add, list and remove', () => {
  let id: string;

  it('adds a route and prints it in one line; --json gives the stored route', async () => {
    const run = await cli.run(
      'route',
      'add',
      '--host',
      'Orders.Example.Test',
      '--path',
      '/orders/:id',
      '--methods',
      'get,head',
      '--api',
      ORDERS,
      '--scopes',
      'orders:read',
    );
    expect(run.code).toBe(0);
    id = /^route ([0-9a-f-]{36}) added/.exec(run.stdout)![1];
    expect(run.stdout).toBe(`route ${id} added: orders.example.test /orders/:id GET,HEAD (api ${ORDERS}; scopes orders:read)\n`);
    const listed = await cli.json('route', 'list');
    expect(listed).toEqual([
      {
        id,
        host: ORDERS_HOST,
        path: '/orders/:id',
        methods: ['GET', 'HEAD'],
        public: false,
        api: ORDERS,
        scopes: ['orders:read'],
        roles: [],
        decide: null,
        login: false,
        created_at: expect.any(String),
      },
    ]);
  });

  it('refuses a path pattern it cannot parse, and other bad input, with exit 2 and nothing written', async () => {
    await expectRefused(['--host', ORDERS_HOST, '--path', 'orders', '--public'], '--path: must start with /');
    await expectRefused(['--host', ORDERS_HOST, '--path', '/a/*/b', '--public'], '--path: * may only be the last segment');
    await expectRefused(['--host', ORDERS_HOST, '--path', '/a/:id/:id', '--public'], '--path: parameter :id appears twice');
    await expectRefused(['--host', 'orders example', '--path', '/a', '--public'], '--host: expected a host name (orders.example.test) or *.example.test');
    await expectRefused(['--host', '*.test', '--path', '/a', '--public'], '--host: expected a host name (orders.example.test) or *.example.test');
    await expectRefused(['--host', ORDERS_HOST, '--path', '/a'], '--api: a route is either public or needs an API (--api URI)');
    await expectRefused(['--host', ORDERS_HOST, '--path', '/a', '--public', '--api', ORDERS], '--api: a route is either public or needs an API (--api URI)');
    await expectRefused(['--host', ORDERS_HOST, '--path', '/a', '--public', '--login'], '--public: a public route takes no scopes, roles, policy or sign-in');
    await expectRefused(
      ['--host', ORDERS_HOST, '--path', '/a', '--api', ORDERS, '--login', '--scopes', 'orders:read'],
      '--scopes: a --login route cannot require scopes: a signed-in browser carries none (use --roles or --decide)',
    );
    await expectRefused(
      ['--host', ORDERS_HOST, '--path', '/a', '--api', ORDERS, '--decide', 'update'],
      '--decide: expected ACTION:RESOURCE_TYPE, e.g. update:order (the type a Cedar name)',
    );
    await expectRefused(
      ['--host', ORDERS_HOST, '--path', '/a', '--api', ORDERS, '--methods', 'GET,G T'],
      "--methods 'G T': expected HTTP methods such as GET,HEAD",
    );
    await expectRefused(
      ['--host', ORDERS_HOST, '--path', '/a', '--api', ORDERS, '--scopes', 'orders:delete'],
      `--scopes: orders:delete not defined by ${ORDERS}`,
    );
  });

  it('refuses an API that does not exist, and a route that would tie with one already there (exit 1)', async () => {
    expect(await cli.run('route', 'add', '--host', ORDERS_HOST, '--path', '/a', '--api', 'https://nope.example.test')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'gatehouse: no API with identifier https://nope.example.test (gatehouse api create)\n',
    });
    const tie = await cli.run('route', 'add', '--host', ORDERS_HOST, '--path', '/orders/:order', '--methods', 'GET', '--public');
    expect(tie).toEqual({
      code: 1,
      stdout: '',
      stderr: `gatehouse: route ${id} (${ORDERS_HOST} /orders/:id GET,HEAD) already decides these requests; remove it first\n`,
    });
    // Another method set of the same pattern does not tie: the route that lists the method wins.
    expect(
      (await cli.run('route', 'add', '--host', ORDERS_HOST, '--path', '/orders/:order', '--methods', 'DELETE', '--api', ORDERS, '--scopes', 'orders:write'))
        .code,
    ).toBe(0);
  });

  it('is used by every instance within a few seconds of a change, and stops being used after remove', async () => {
    const token = (await f.serviceToken(['orders:read'])).token;
    const decision = (server: { url: string }) =>
      fetch(`${server.url}/edge/v1/auth-request`, { headers: { ...nginxHeaders('GET', '/reports/1'), authorization: `Bearer ${token}` } }).then(
        (r) => r.status,
      );
    const within = async (seconds: number, status: number) => {
      const deadline = Date.now() + seconds * 1000;
      while ([await decision(f.server), await decision(second)].some((s) => s !== status)) {
        if (Date.now() > deadline) throw new Error(`not ${status} on both instances within ${seconds} s`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    expect([await decision(f.server), await decision(second)]).toEqual([403, 403]);
    const added = await cli.json('route', 'add', '--host', ORDERS_HOST, '--path', '/reports/*', '--api', ORDERS);
    await within(3, 200);
    expect(await cli.run('route', 'remove', added.id)).toEqual({ code: 0, stdout: `route ${added.id} removed (${ORDERS_HOST} /reports/*)\n`, stderr: '' });
    await within(3, 403);
  });

  it('says so when removing a route that is not there', async () => {
    expect(await cli.run('route', 'remove', 'd7c3b1d2-6a1e-4d53-9a55-1a2b3c4d5e6f')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'gatehouse: no route with id d7c3b1d2-6a1e-4d53-9a55-1a2b3c4d5e6f\n',
    });
    expect(await cli.run('route', 'remove', 'not-an-id')).toEqual({ code: 1, stdout: '', stderr: 'gatehouse: no route with id not-an-id\n' });
  });

  it('records each change in the audit trail', async () => {
    const events = await f.database.db.auditEvent.findMany({ where: { type: { in: ['edge_route.added', 'edge_route.removed'] } }, orderBy: { at: 'asc' } });
    expect(events.map((e) => [e.type, e.actor])).toEqual([
      ['edge_route.added', 'cli'],
      ['edge_route.added', 'cli'],
      ['edge_route.added', 'cli'],
      ['edge_route.removed', 'cli'],
    ]);
  });
});
