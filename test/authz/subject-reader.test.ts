import { createSubjectQueries } from '../../apps/core/authz/subject-queries.ts';
import { createSubjectReader } from '../../apps/core/authz/subject-reader.ts';
import { statementsDuring } from '../support/database.ts';
import { LEDGER, ORDERS, startAuthz, type AuthzFixture } from './authz-fixture.ts';

let f: AuthzFixture;
const ids: Record<string, string> = {};

beforeAll(async () => {
  f = await startAuthz();
  const { groups, roles } = f.services.authz.directory;
  ids.ada = await f.user('ada@example.test', 'Ada');
  ids.bob = await f.user('bob@example.test');
  ids.service = await f.client('Billing');
  await groups.create('managers');
  await groups.create('auditors');
  await groups.addMember({ group: 'managers', user: ids.ada });
  await groups.addMember({ group: 'auditors', user: ids.ada });
  await roles.create({ api: ORDERS, name: 'editor', scopes: 'orders:read orders:write' });
  await roles.create({ api: ORDERS, name: 'approver', scopes: 'orders:read orders:delete' });
  await roles.create({ api: LEDGER, name: 'viewer', scopes: 'ledger:read' });
  await roles.assign({ api: ORDERS, role: 'editor', user: ids.ada });
  await roles.assign({ api: ORDERS, role: 'approver', group: 'managers' });
  await roles.assign({ api: LEDGER, role: 'viewer', group: 'auditors' });
  await roles.assign({ api: LEDGER, role: 'viewer', client: ids.service });
  await f.services.authz.directory.attributes.update({ user: ids.ada, set: { department: 'sales' } });
});
afterAll(() => f?.close());

describe('subject reader', () => {
  it("reads a user's groups, roles (direct and through groups), attributes, email and name", async () => {
    expect(await f.services.authz.subjects.read({ type: 'user', id: ids.ada })).toEqual({
      type: 'user',
      id: ids.ada,
      known: true,
      email: 'ada@example.test',
      name: 'Ada',
      groups: ['auditors', 'managers'],
      roles: [
        { api: LEDGER, name: 'viewer', scopes: ['ledger:read'], direct: false, groups: ['auditors'] },
        { api: ORDERS, name: 'approver', scopes: ['orders:read', 'orders:delete'], direct: false, groups: ['managers'] },
        { api: ORDERS, name: 'editor', scopes: ['orders:read', 'orders:write'], direct: true, groups: [] },
      ],
      attributes: { department: 'sales' },
    });
  });

  it('answers the roles per API and the union of their scopes', async () => {
    const { subjects } = f.services.authz;
    const ada = { type: 'user', id: ids.ada } as const;
    expect(await subjects.rolesFor(ada, ORDERS)).toEqual(['approver', 'editor']);
    expect(await subjects.scopesGrantedBy(ada, ORDERS)).toEqual(['orders:read', 'orders:delete', 'orders:write']);
    expect(await subjects.rolesFor(ada, LEDGER)).toEqual(['viewer']);
    expect(await subjects.rolesFor({ type: 'user', id: ids.bob }, ORDERS)).toEqual([]);
    expect(await subjects.scopesGrantedBy({ type: 'user', id: ids.bob }, ORDERS)).toEqual([]);
  });

  it("reads a client's own roles", async () => {
    const service = { type: 'client', id: ids.service } as const;
    expect(await f.services.authz.subjects.read(service)).toEqual({
      type: 'client',
      id: ids.service,
      known: true,
      name: 'Billing',
      groups: [],
      roles: [{ api: LEDGER, name: 'viewer', scopes: ['ledger:read'], direct: true, groups: [] }],
      attributes: {},
    });
    expect(await f.services.authz.subjects.scopesGrantedBy(service, LEDGER)).toEqual(['ledger:read']);
  });

  it('knows nothing of an unknown or disabled user, or an unknown client', async () => {
    const nobody = { known: false, groups: [], roles: [], attributes: {} };
    const reader = createSubjectReader({ queries: createSubjectQueries(f.database.db), ttlSeconds: 0 });
    expect(await reader.read({ type: 'user', id: '00000000-0000-4000-8000-000000000009' })).toEqual({
      type: 'user',
      id: '00000000-0000-4000-8000-000000000009',
      ...nobody,
    });
    expect(await reader.read({ type: 'user', id: 'not-a-uuid' })).toEqual({ type: 'user', id: 'not-a-uuid', ...nobody });
    expect(await reader.read({ type: 'client', id: 'nope' })).toEqual({ type: 'client', id: 'nope', ...nobody });
    const eve = await f.user('eve@example.test');
    await f.services.authz.directory.roles.assign({ api: ORDERS, role: 'editor', user: eve });
    expect((await reader.read({ type: 'user', id: eve })).roles).toHaveLength(1);
    await f.database.db.user.update({ where: { id: eve }, data: { disabled: true } });
    expect(await reader.read({ type: 'user', id: eve })).toEqual({ type: 'user', id: eve, ...nobody });
  });

  it("leaves out a role's scopes that its API no longer defines", async () => {
    const reader = createSubjectReader({ queries: createSubjectQueries(f.database.db), ttlSeconds: 0 });
    await f.database.db.api.update({ where: { identifier: ORDERS }, data: { scopes: ['orders:read', 'orders:write'] } });
    try {
      expect(await reader.scopesGrantedBy({ type: 'user', id: ids.ada }, ORDERS)).toEqual(['orders:read', 'orders:write']);
    } finally {
      await f.database.db.api.update({ where: { identifier: ORDERS }, data: { scopes: ['orders:read', 'orders:write', 'orders:delete'] } });
    }
  });

  it('reads a subject with one statement, shared by concurrent reads, and then from memory', async () => {
    const reader = createSubjectReader({ queries: createSubjectQueries(f.database.db), ttlSeconds: 5 });
    const ada = { type: 'user', id: ids.ada } as const;
    expect(await statementsDuring(f.database.db, () => Promise.all([reader.read(ada), reader.read(ada), reader.rolesFor(ada, ORDERS)]))).toBe(1);
    expect(await statementsDuring(f.database.db, () => reader.read(ada))).toBe(0);
  });

  it('stops granting a removed membership or role once the TTL has passed, on an instance that did not make the change', async () => {
    let clock = 1_000_000;
    const other = createSubjectReader({ queries: createSubjectQueries(f.database.db), ttlSeconds: 5, now: () => clock });
    const bob = { type: 'user', id: ids.bob } as const;
    const { groups, roles } = f.services.authz.directory;
    await groups.addMember({ group: 'managers', user: ids.bob });
    await roles.assign({ api: LEDGER, role: 'viewer', user: ids.bob });
    expect(await other.rolesFor(bob, ORDERS)).toEqual(['approver']);
    expect(await other.rolesFor(bob, LEDGER)).toEqual(['viewer']);

    await groups.removeMember({ group: 'managers', user: ids.bob });
    await roles.unassign({ api: LEDGER, role: 'viewer', user: ids.bob });
    clock += 4_999;
    expect(await other.rolesFor(bob, ORDERS)).toEqual(['approver']);
    clock += 1;
    expect(await other.rolesFor(bob, ORDERS)).toEqual([]);
    expect(await other.rolesFor(bob, LEDGER)).toEqual([]);
    expect((await other.read(bob)).groups).toEqual([]);
  });

  it('forgets at once on the instance that made the change', async () => {
    const { subjects, directory } = f.services.authz;
    const bob = { type: 'user', id: ids.bob } as const;
    expect(await subjects.rolesFor(bob, ORDERS)).toEqual([]);
    await directory.groups.addMember({ group: 'managers', user: ids.bob });
    expect(await subjects.rolesFor(bob, ORDERS)).toEqual(['approver']);
    await directory.roles.delete({ api: ORDERS, name: 'approver' });
    expect(await subjects.rolesFor(bob, ORDERS)).toEqual([]);
  });
});
