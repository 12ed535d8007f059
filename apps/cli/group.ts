import type { Authz } from '../core/authz/authz.ts';
import { formatDate, table, type Command, type Noun } from './output.ts';

type Needs = { authz: Authz };

const userOption = { user: { type: 'string', field: 'user', value: 'USER', required: true, description: 'the user, by id or email address' } } as const;

const create: Command<Needs> = {
  summary: 'create a group of users (policies name it Group::"NAME"; tokens list it in groups)',
  args: ['NAME'],
  async run({ args: [name] }, { authz }) {
    const group = await authz.directory.groups.create(name);
    return { text: `group ${group.name} created`, json: { name: group.name, created_at: group.createdAt } };
  },
};

const list: Command<Needs> = {
  summary: 'list groups by name, with their members and roles',
  async run(_input, { authz }) {
    const all = await authz.directory.groups.list();
    return {
      text: table(
        ['NAME', 'MEMBERS', 'ROLES', 'CREATED'],
        all.map((g) => [g.name, g.members.length, g.roles.join(' ') || '-', formatDate(g.createdAt)]),
      ),
      json: all.map((g) => ({ name: g.name, members: g.members, roles: g.roles, created_at: g.createdAt })),
    };
  },
};

const addMember: Command<Needs> = {
  summary: 'add a user to a group',
  args: ['NAME'],
  options: userOption,
  async run({ args: [group], fields }, { authz }) {
    const done = await authz.directory.groups.addMember({ group, user: fields.user as string });
    return {
      text: done.changed ? `user ${done.userId} added to group ${done.group}` : `user ${done.userId} already is in group ${done.group}`,
      json: { group: done.group, user_id: done.userId, changed: done.changed },
    };
  },
};

const removeMember: Command<Needs> = {
  summary: 'take a user out of a group',
  args: ['NAME'],
  options: userOption,
  async run({ args: [group], fields }, { authz }) {
    const done = await authz.directory.groups.removeMember({ group, user: fields.user as string });
    return {
      text: done.changed ? `user ${done.userId} removed from group ${done.group}` : `user ${done.userId} was not in group ${done.group}`,
      json: { group: done.group, user_id: done.userId, changed: done.changed },
    };
  },
};

export const group: Noun = {
  summary: 'groups of users, which policies and tokens name and which can hold roles',
  commands: { create, list, 'add-member': addMember, 'remove-member': removeMember },
};
