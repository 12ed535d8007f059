import type { Authz } from '../core/authz/authz.ts';
import type { Assignment } from '../core/authz/roles.ts';
import { formatDate, table, UsageError, type Command, type Noun } from './output.ts';

type Needs = { authz: Authz };

const api = { type: 'string', field: 'api', value: 'URI', required: true, description: "the API's identifier" } as const;
const name = { type: 'string', field: 'name', value: 'NAME', required: true, description: "the role's name" } as const;

const create: Command<Needs> = {
  summary: "define a role on an API: a named set of the API's scopes",
  options: {
    api,
    name,
    scopes: {
      type: 'string',
      field: 'scopes',
      value: 'SCOPES',
      description: 'space-separated scopes the API defines, e.g. "orders:read orders:write" (default none)',
    },
  },
  async run({ fields }, { authz }) {
    const role = await authz.directory.roles.create(fields as { api: string; name: string; scopes?: string });
    return {
      text: `role ${role.name} created on ${role.api} (scopes: ${role.scopes.join(' ') || '-'})`,
      json: { api: role.api, name: role.name, scopes: role.scopes, created_at: role.createdAt },
    };
  },
};

const list: Command<Needs> = {
  summary: 'list roles by API and name, with whom each is assigned to',
  options: { api: { ...api, required: false, description: "only this API's roles" } },
  async run({ fields }, { authz }) {
    const all = await authz.directory.roles.list(fields.api as string | undefined);
    const holders = (r: (typeof all)[number]) => [
      ...r.users.map((id) => `user:${id}`),
      ...r.groups.map((g) => `group:${g}`),
      ...r.clients.map((id) => `client:${id}`),
    ];
    return {
      text: table(
        ['API', 'NAME', 'SCOPES', 'ASSIGNED TO', 'CREATED'],
        all.map((r) => [r.api, r.name, r.scopes.join(' ') || '-', holders(r).join(' ') || '-', formatDate(r.createdAt)]),
      ),
      json: all.map((r) => ({ api: r.api, name: r.name, scopes: r.scopes, users: r.users, groups: r.groups, clients: r.clients, created_at: r.createdAt })),
    };
  },
};

const remove: Command<Needs> = {
  summary: 'delete a role and every assignment of it',
  options: { api, name },
  async run({ fields }, { authz }) {
    const role = await authz.directory.roles.delete(fields as { api: string; name: string });
    return { text: `role ${role.name} deleted from ${role.api}, with its assignments`, json: { api: role.api, name: role.name, deleted: true } };
  },
};

const assignmentOptions = {
  api,
  role: { type: 'string', field: 'role', value: 'NAME', required: true, description: "the role's name" },
  user: { type: 'string', field: 'user', value: 'USER', description: 'a user, by id or email address' },
  group: { type: 'string', field: 'group', value: 'NAME', description: 'a group: each of its members holds the role' },
  client: { type: 'string', field: 'client', value: 'ID', description: 'a client, for the tokens it gets as itself (client_credentials)' },
} as const;

const holder = (to: Assignment['to']) => ('user' in to ? `user ${to.user}` : 'group' in to ? `group ${to.group}` : `client ${to.client}`);
const oneTarget = (fields: Record<string, unknown>) => {
  if (['user', 'group', 'client'].filter((t) => fields[t] !== undefined).length !== 1) throw new UsageError('give exactly one of --user, --group or --client');
  return fields as { api: string; role: string; user?: string; group?: string; client?: string };
};
const assignmentJson = (a: Assignment) => ({ api: a.api, role: a.role, ...a.to, changed: a.changed });

const assign: Command<Needs> = {
  summary: 'assign a role to a user, a group or a client',
  options: assignmentOptions,
  readInput: async (fields) => oneTarget(fields),
  async run({ fields }, { authz }) {
    const done = await authz.directory.roles.assign(oneTarget(fields));
    const text = `role ${done.role} of ${done.api} ${done.changed ? 'assigned to' : 'already was assigned to'} ${holder(done.to)}`;
    return { text, json: assignmentJson(done) };
  },
};

const unassign: Command<Needs> = {
  summary: 'take a role back from a user, a group or a client',
  options: assignmentOptions,
  readInput: async (fields) => oneTarget(fields),
  async run({ fields }, { authz }) {
    const done = await authz.directory.roles.unassign(oneTarget(fields));
    const text = `role ${done.role} of ${done.api} ${done.changed ? 'unassigned from' : 'was not assigned to'} ${holder(done.to)}`;
    return { text, json: assignmentJson(done) };
  },
};

export const role: Noun = {
  summary: "roles: named sets of an API's scopes, assigned to users, groups and clients",
  commands: { create, list, delete: remove, assign, unassign },
};
