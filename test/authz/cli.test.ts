import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCli } from '../support/cli.ts';
import { LEDGER, ORDERS, startAuthz, type AuthzFixture } from './authz-fixture.ts';

let f: AuthzFixture;
let cli: Awaited<ReturnType<typeof createCli>>;
let files: string;
const ids: Record<string, string> = {};

const ok = (stdout: string) => ({ code: 0, stdout: `${stdout}\n`, stderr: '' });
const failed = (code: number, line: string) => ({ code, stdout: '', stderr: `gatehouse: ${line}\n` });
/** The audit events of one kind, as [actor, userId, clientId, details]. */
const events = async (type: string) =>
  (await f.database.db.auditEvent.findMany({ where: { type }, orderBy: { id: 'asc' } })).map((e) => [e.actor, e.userId, e.clientId, e.details]);
const policyFile = async (name: string, text: string) => {
  const path = join(files, name);
  await writeFile(path, text);
  return path;
};

beforeAll(async () => {
  f = await startAuthz();
  cli = await createCli(f.database.url, f.secrets);
  files = await mkdtemp(join(tmpdir(), 'gatehouse-policies-'));
  ids.ada = await f.user('ada@example.test', 'Ada');
  ids.bob = await f.user('bob@example.test');
  ids.service = await f.client('Billing');
});
afterAll(async () => {
  await cli?.close();
  await rm(files, { recursive: true, force: true });
  await f?.close();
});

describe('gatehouse group', () => {
  it('creates groups, adds and removes members (by id or email), and audits each change as the CLI', async () => {
    expect(await cli.run('group', 'create', 'managers')).toEqual(ok('group managers created'));
    expect(await cli.run('group', 'add-member', 'managers', '--user', ids.ada)).toEqual(ok(`user ${ids.ada} added to group managers`));
    expect(await cli.run('group', 'add-member', 'managers', '--user', 'BOB@example.test')).toEqual(ok(`user ${ids.bob} added to group managers`));
    expect(await cli.run('group', 'add-member', 'managers', '--user', ids.ada)).toEqual(ok(`user ${ids.ada} already is in group managers`));
    expect(await cli.run('group', 'remove-member', 'managers', '--user', ids.bob)).toEqual(ok(`user ${ids.bob} removed from group managers`));
    expect(await cli.run('group', 'remove-member', 'managers', '--user', ids.bob)).toEqual(ok(`user ${ids.bob} was not in group managers`));
    expect(await events('group.created')).toEqual([['cli', null, null, { group: 'managers' }]]);
    expect(await events('group.member_added')).toEqual([
      ['cli', ids.ada, null, { group: 'managers' }],
      ['cli', ids.bob, null, { group: 'managers' }],
    ]);
    expect(await events('group.member_removed')).toEqual([['cli', ids.bob, null, { group: 'managers' }]]);
  });

  it('lists groups with their members and roles', async () => {
    await cli.run('group', 'create', 'auditors');
    expect(await cli.json('group', 'list')).toEqual([
      { name: 'auditors', members: [], roles: [], created_at: expect.any(String) },
      { name: 'managers', members: [ids.ada], roles: [], created_at: expect.any(String) },
    ]);
    const [header, ...rows] = (await cli.run('group', 'list')).stdout.trimEnd().split('\n');
    expect(header.split(/\s{2,}/)).toEqual(['NAME', 'MEMBERS', 'ROLES', 'CREATED']);
    expect(rows.map((row) => row.split(/\s{2,}/).slice(0, 3))).toEqual([
      ['auditors', '0', '-'],
      ['managers', '1', '-'],
    ]);
  });

  it('refuses a taken name, a bad name, an unknown group or user, with one line', async () => {
    expect(await cli.run('group', 'create', 'managers')).toEqual(failed(1, 'a group named managers already exists'));
    expect(await cli.run('group', 'create', 'has space')).toEqual(
      failed(2, 'name: expected 1 to 100 letters, digits or . _ : @ / - starting with a letter or digit'),
    );
    expect(await cli.run('group', 'add-member', 'nobody', '--user', ids.ada)).toEqual(failed(1, 'no group named nobody'));
    expect(await cli.run('group', 'add-member', 'managers', '--user', 'who@example.test')).toEqual(failed(1, 'no user with id who@example.test'));
  });
});

describe('gatehouse role', () => {
  it('defines roles on an API with scopes it defines, audited', async () => {
    expect(await cli.run('role', 'create', '--api', ORDERS, '--name', 'editor', '--scopes', 'orders:read orders:write')).toEqual(
      ok(`role editor created on ${ORDERS} (scopes: orders:read orders:write)`),
    );
    expect(await cli.json('role', 'create', '--api', LEDGER, '--name', 'viewer', '--scopes', 'ledger:read')).toEqual({
      api: LEDGER,
      name: 'viewer',
      scopes: ['ledger:read'],
      created_at: expect.any(String),
    });
    expect(await events('role.created')).toEqual([
      ['cli', null, null, { api: ORDERS, role: 'editor', scopes: ['orders:read', 'orders:write'] }],
      ['cli', null, null, { api: LEDGER, role: 'viewer', scopes: ['ledger:read'] }],
    ]);
  });

  it('refuses a role for an API that does not exist (exit 1) or with a scope the API does not define (exit 2), writing nothing', async () => {
    expect(await cli.run('role', 'create', '--api', 'https://unknown.example.test', '--name', 'editor')).toEqual(
      failed(1, 'no API with identifier https://unknown.example.test'),
    );
    expect(await cli.run('role', 'create', '--api', ORDERS, '--name', 'reader', '--scopes', 'orders:raed')).toEqual(
      failed(2, `--scopes: orders:raed not defined by ${ORDERS}`),
    );
    expect(await cli.run('role', 'create', '--api', ORDERS, '--name', 'editor')).toEqual(failed(1, `${ORDERS} already has a role named editor`));
    expect(await cli.run('role', 'create', '--api', ORDERS, '--name', 'a#b')).toEqual(
      failed(2, '--name: expected 1 to 64 letters, digits or . _ : - starting with a letter or digit'),
    );
    expect(await f.database.db.role.count()).toBe(2);
  });

  it('assigns roles to a user, a group and a client, and takes them back, audited', async () => {
    expect(await cli.run('role', 'assign', '--api', ORDERS, '--role', 'editor', '--user', ids.ada)).toEqual(
      ok(`role editor of ${ORDERS} assigned to user ${ids.ada}`),
    );
    expect(await cli.run('role', 'assign', '--api', ORDERS, '--role', 'editor', '--group', 'managers')).toEqual(
      ok(`role editor of ${ORDERS} assigned to group managers`),
    );
    expect(await cli.run('role', 'assign', '--api', LEDGER, '--role', 'viewer', '--client', ids.service)).toEqual(
      ok(`role viewer of ${LEDGER} assigned to client ${ids.service}`),
    );
    expect(await cli.run('role', 'assign', '--api', ORDERS, '--role', 'editor', '--user', ids.ada)).toEqual(
      ok(`role editor of ${ORDERS} already was assigned to user ${ids.ada}`),
    );
    expect(await cli.json('role', 'list', '--api', ORDERS)).toEqual([
      {
        api: ORDERS,
        name: 'editor',
        scopes: ['orders:read', 'orders:write'],
        users: [ids.ada],
        groups: ['managers'],
        clients: [],
        created_at: expect.any(String),
      },
    ]);
    expect(await cli.run('role', 'unassign', '--api', ORDERS, '--role', 'editor', '--user', ids.ada)).toEqual(
      ok(`role editor of ${ORDERS} unassigned from user ${ids.ada}`),
    );
    expect(await cli.run('role', 'unassign', '--api', ORDERS, '--role', 'editor', '--user', ids.ada)).toEqual(
      ok(`role editor of ${ORDERS} was not assigned to user ${ids.ada}`),
    );
    expect(await events('role.assigned')).toEqual([
      ['cli', ids.ada, null, { api: ORDERS, role: 'editor' }],
      ['cli', null, null, { group: 'managers', api: ORDERS, role: 'editor' }],
      ['cli', null, ids.service, { api: LEDGER, role: 'viewer' }],
    ]);
    expect(await events('role.unassigned')).toEqual([['cli', ids.ada, null, { api: ORDERS, role: 'editor' }]]);
    const [header, ...rows] = (await cli.run('role', 'list')).stdout.trimEnd().split('\n');
    expect(header.split(/\s{2,}/)).toEqual(['API', 'NAME', 'SCOPES', 'ASSIGNED TO', 'CREATED']);
    expect(rows.map((row) => row.split(/\s{2,}/).slice(0, 4))).toEqual([
      [LEDGER, 'viewer', 'ledger:read', `client:${ids.service}`],
      [ORDERS, 'editor', 'orders:read orders:write', 'group:managers'],
    ]);
  });

  it('refuses an assignment to none or two holders, or to an unknown role or holder', async () => {
    expect(await cli.run('role', 'assign', '--api', ORDERS, '--role', 'editor')).toEqual(
      failed(2, "give exactly one of --user, --group or --client (see 'gatehouse role assign --help')"),
    );
    expect(await cli.run('role', 'assign', '--api', ORDERS, '--role', 'editor', '--user', ids.ada, '--group', 'managers')).toEqual(
      failed(2, "give exactly one of --user, --group or --client (see 'gatehouse role assign --help')"),
    );
    expect(await cli.run('role', 'assign', '--api', ORDERS, '--role', 'boss', '--user', ids.ada)).toEqual(failed(1, `${ORDERS} has no role named boss`));
    expect(await cli.run('role', 'assign', '--api', ORDERS, '--role', 'editor', '--client', 'nobody')).toEqual(failed(1, 'no client with id nobody'));
    expect(await cli.run('role', 'assign', '--api', ORDERS, '--role', 'editor', '--group', 'nobody')).toEqual(failed(1, 'no group named nobody'));
  });

  it('deletes a role with its assignments, audited', async () => {
    await cli.run('role', 'create', '--api', ORDERS, '--name', 'temp');
    await cli.run('role', 'assign', '--api', ORDERS, '--role', 'temp', '--user', ids.bob);
    expect(await cli.run('role', 'delete', '--api', ORDERS, '--name', 'temp')).toEqual(ok(`role temp deleted from ${ORDERS}, with its assignments`));
    expect(await f.database.db.userRole.count({ where: { userId: ids.bob } })).toBe(0);
    expect(await events('role.deleted')).toEqual([['cli', null, null, { api: ORDERS, role: 'temp' }]]);
    expect(await cli.run('role', 'delete', '--api', ORDERS, '--name', 'temp')).toEqual(failed(1, `${ORDERS} has no role named temp`));
  });
});

describe('gatehouse user update', () => {
  it('sets attributes typed as JSON where they parse (numbers, booleans, "quoted" strings), text otherwise; removes them', async () => {
    const set = await cli.json(
      'user',
      'update',
      ids.ada,
      '--attr',
      'department=sales',
      '--attr',
      'clearance=3',
      '--attr',
      'zip=01234',
      '--attr',
      'code="42"',
      '--attr',
      'remote=true',
      '--attr',
      'regions=["eu","us"]',
    );
    expect(set).toEqual({ id: ids.ada, attributes: { clearance: 3, code: '42', department: 'sales', regions: ['eu', 'us'], remote: true, zip: '01234' } });
    expect(Object.keys(set.attributes)).toEqual(['clearance', 'code', 'department', 'regions', 'remote', 'zip']);
    expect(await cli.run('user', 'update', ids.ada, '--remove-attr', 'zip', '--remove-attr', 'code', '--attr', 'clearance=4')).toEqual(
      ok(`updated user ${ids.ada}; attributes: {"clearance":4,"department":"sales","regions":["eu","us"],"remote":true}`),
    );
    expect(await events('user.changed')).toEqual([
      [
        'cli',
        ids.ada,
        null,
        { attributes: { set: { department: 'sales', clearance: 3, zip: '01234', code: '42', remote: true, regions: ['eu', 'us'] }, removed: [] } },
      ],
      ['cli', ids.ada, null, { attributes: { set: { clearance: 4 }, removed: ['zip', 'code'] } }],
    ]);
  });

  it('refuses what Cedar could not read, and an empty update, with exit 2', async () => {
    expect(await cli.run('user', 'update', ids.ada, '--attr', 'score=0.123456')).toEqual(
      failed(2, '--attr: score: Cedar holds whole numbers up to 2^53 and decimals with at most 4 places'),
    );
    expect(await cli.run('user', 'update', ids.ada, '--attr', '1bad=x')).toEqual(
      failed(2, '--attr: 1bad: expected a name of 1 to 64 letters, digits, _ or - starting with a letter'),
    );
    expect(await cli.run('user', 'update', ids.ada, '--attr', 'novalue')).toEqual(failed(2, "--attr: expected KEY=VALUE (see 'gatehouse user update --help')"));
    expect(await cli.run('user', 'update', ids.ada)).toEqual(failed(2, "give --attr or --remove-attr (see 'gatehouse user update --help')"));
    expect(await cli.run('user', 'update', '00000000-0000-4000-8000-000000000000', '--attr', 'a=1')).toEqual(
      failed(1, 'no user with id 00000000-0000-4000-8000-000000000000'),
    );
  });
});

describe('gatehouse policy', () => {
  const first = `@id("editors-update")\npermit(principal in Role::"${ORDERS}#editor", action == Action::"update", resource is order);\n`;
  const second = `${first}\n@id("owner-read")\npermit(principal, action == Action::"read", resource is order)\n  when { resource has owner && resource.owner == principal };\n\npermit(principal in Group::"managers", action == Action::"delete", resource is order)\n  when { principal.attributes.clearance >= 4 };\n`;

  it('says when no policy is set yet', async () => {
    expect(await cli.run('policy', 'show')).toEqual(failed(1, 'no policy has been set yet'));
    expect(await cli.run('policy', 'test', '--subject', `user:${ids.ada}`, '--action', 'update', '--resource', 'order:1')).toEqual(
      ok('decision: deny\ndecided by: no policy (default deny)\npolicies: none set (everything is denied)'),
    );
  });

  it('stores versions, shows them, and lists them with the live one', async () => {
    expect(await cli.run('policy', 'set', '--file', await policyFile('first.cedar', first))).toEqual(ok('policy version 1 is live (1 policy: editors-update)'));
    expect(await cli.run('policy', 'set', '--file', await policyFile('second.cedar', second))).toEqual(
      ok('policy version 2 is live (3 policies: editors-update, owner-read, policy2)'),
    );
    expect(await cli.run('policy', 'show')).toEqual(ok(second.trimEnd()));
    expect(await cli.run('policy', 'show', '1')).toEqual(ok(first.trimEnd()));
    expect(await cli.json('policy', 'versions')).toEqual([
      { version: 1, live: false, policies: ['editors-update'], restored_from: null, actor: 'cli', created_at: expect.any(String) },
      { version: 2, live: true, policies: ['editors-update', 'owner-read', 'policy2'], restored_from: null, actor: 'cli', created_at: expect.any(String) },
    ]);
    expect(await events('policy.set')).toEqual([
      ['cli', null, null, { version: 1, policies: 1 }],
      ['cli', null, null, { version: 2, policies: 3 }],
    ]);
  });

  it('refuses a file with a syntax error, naming the file and line, and the previous version stays live', async () => {
    const path = await policyFile('broken.cedar', `${first}\npermit(principal, action resource);\n`);
    const run = await cli.run('policy', 'set', '--file', path);
    expect(run).toEqual(
      failed(
        2,
        `${path}, line 4: unexpected token \`resource\`; expected \`!=\`, \`)\`, \`,\`, \`:\`, \`<\`, \`<=\`, \`==\`, \`>\`, \`>=\`, \`in\`, or \`is\``,
      ),
    );
    expect((await cli.json('policy', 'show')).version).toBe(2);
    expect(await cli.run('policy', 'set', '--file', join(files, 'missing.cedar'))).toEqual(
      failed(2, `--file: cannot read ${join(files, 'missing.cedar')} (ENOENT) (see 'gatehouse policy set --help')`),
    );
  });

  it('tests a decision and names the policies that made it', async () => {
    const test = (...args: string[]) => cli.run('policy', 'test', '--subject', `user:${ids.ada}`, ...args);
    // Ada is in managers, which holds editor on orders.
    expect(await test('--action', 'update', '--resource', 'order:1')).toEqual(ok('decision: allow\ndecided by: editors-update\npolicies: version 2'));
    expect(await test('--action', 'read', '--resource', 'order:1', '--resource-prop', `owner={"type":"user","id":"${ids.ada}"}`)).toEqual(
      ok('decision: allow\ndecided by: owner-read\npolicies: version 2'),
    );
    expect(await test('--action', 'read', '--resource', 'order:1', '--resource-prop', `owner={"type":"user","id":"${ids.bob}"}`)).toEqual(
      ok('decision: deny\ndecided by: no policy (default deny)\npolicies: version 2'),
    );
    expect(await test('--action', 'delete', '--resource', 'order:1')).toEqual(ok('decision: allow\ndecided by: policy2\npolicies: version 2'));
    expect(await cli.json('policy', 'test', '--subject', 'user:bob@example.test', '--action', 'delete', '--resource', 'order:1')).toEqual({
      decision: false,
      reasons: [],
      errors: [],
      policy_version: 2,
      subject_known: true,
    });
  });

  it('tests a file or an earlier version before it ships, and an unknown subject', async () => {
    const forbid = await policyFile(
      'forbid.cedar',
      `${second}\n@id("freeze")\nforbid(principal, action, resource is order) when { context.frozen == true };\n`,
    );
    const args = ['--subject', `user:${ids.ada}`, '--action', 'update', '--resource', 'order:1', '--context', 'frozen=true'];
    expect(await cli.run('policy', 'test', ...args, '--file', forbid)).toEqual(ok(`decision: deny\ndecided by: freeze\npolicies: ${forbid} (not stored)`));
    expect(await cli.run('policy', 'test', ...args, '--version', '1')).toEqual(ok('decision: allow\ndecided by: editors-update\npolicies: version 1'));
    expect(await cli.run('policy', 'test', '--subject', 'client:nobody', '--action', 'update', '--resource', 'order:1')).toEqual(
      ok(
        'decision: deny\ndecided by: no policy (default deny)\npolicies: version 2\nnote: client nobody is unknown to Gatehouse, so only what was given counts',
      ),
    );
    expect((await cli.json('policy', 'versions')).length).toBe(2);
  });

  it('refuses a bad subject, resource type or value with exit 2', async () => {
    expect(await cli.run('policy', 'test', '--subject', 'group:managers', '--action', 'read', '--resource', 'order:1')).toEqual(
      failed(2, "--subject: expected user:ID or client:ID (see 'gatehouse policy test --help')"),
    );
    expect(await cli.run('policy', 'test', '--subject', `user:${ids.ada}`, '--action', 'read', '--resource', 'order')).toEqual(
      failed(2, "--resource: expected TYPE:ID (see 'gatehouse policy test --help')"),
    );
    expect(await cli.run('policy', 'test', '--subject', `user:${ids.ada}`, '--action', 'read', '--resource', 'or der:1')).toEqual(
      failed(2, '--resource: type: "or der" is not a Cedar entity type name (letters, digits and _, not starting with a digit; namespaces joined by ::)'),
    );
  });

  it('rolls back to an earlier version as a new version', async () => {
    expect(await cli.run('policy', 'rollback', '1')).toEqual(ok('policy version 3 is live: the policies of version 1 (1 policy: editors-update)'));
    expect(await cli.run('policy', 'show')).toEqual(ok(first.trimEnd()));
    const [, ...rows] = (await cli.run('policy', 'versions')).stdout.trimEnd().split('\n');
    expect(rows.map((row) => row.split(/\s{2,}/))).toEqual([
      ['1', '1', 'cli', expect.any(String), ''],
      ['2', '3', 'cli', expect.any(String), ''],
      ['3', 'yes', '1', 'cli', expect.any(String), 'restores version 1'],
    ]);
    expect(await events('policy.rolled_back')).toEqual([['cli', null, null, { version: 3, restoredFrom: 1 }]]);
    expect(await cli.run('policy', 'rollback', '9')).toEqual(failed(1, 'no policy version 9'));
    expect(await cli.run('policy', 'rollback', 'latest')).toEqual(
      failed(2, "VERSION: expected a version number (1, 2, ...) (see 'gatehouse policy rollback --help')"),
    );
    expect(await cli.run('policy', 'show', '0')).toEqual(failed(2, "VERSION: expected a version number (1, 2, ...) (see 'gatehouse policy show --help')"));
    expect(await cli.run('policy', 'show', '1', '2')).toEqual(failed(2, "too many arguments (expected [VERSION]) (see 'gatehouse policy show --help')"));
  });
});
