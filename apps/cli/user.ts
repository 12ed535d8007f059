import type { Authz } from '../core/authz/authz.ts';
import type { CreateUserBody, User, UserService } from '../core/users/user-service.ts';
import { keyValue, record } from './key-value.ts';
import { formatDate, table, UsageError, type Command, type Noun } from './output.ts';
import { readPassword } from './password-input.ts';

type Needs = { users: UserService };

const create: Command<Needs> = {
  summary: 'create a user who signs in with an email address and a password',
  options: {
    email: { type: 'string', field: 'email', value: 'EMAIL', required: true, description: 'sign-in address, stored lower-cased' },
    'password-stdin': {
      type: 'boolean',
      field: 'passwordStdin',
      description: 'read the password from the first line of standard input (for scripts); without it, it is asked for on the terminal',
    },
    name: { type: 'string', field: 'name', value: 'NAME', description: 'full name (the OpenID Connect name claim)' },
  },
  async readInput({ passwordStdin, ...fields }) {
    return { ...fields, password: await readPassword({ fromStdin: passwordStdin === true }) };
  },
  async run({ fields }, { users }) {
    const user = await users.create(fields as CreateUserBody);
    return { text: user.id, json: { id: user.id, email: user.email } };
  },
};

const userJson = (user: User) => ({
  id: user.id,
  email: user.email,
  name: user.name,
  disabled: user.disabled,
  created_at: user.createdAt,
});

const list: Command<Needs> = {
  summary: 'list users, oldest first',
  async run(_input, { users }) {
    const all = await users.list();
    return {
      text: table(
        ['ID', 'EMAIL', 'NAME', 'DISABLED', 'CREATED'],
        all.map((u) => [u.id, u.email, u.name ?? '-', u.disabled ? 'yes' : 'no', formatDate(u.createdAt)]),
      ),
      json: all.map(userJson),
    };
  },
};

const disable: Command<Needs> = {
  summary: 'stop a user from signing in (the account and its data stay)',
  args: ['ID'],
  async run({ args: [id] }, { users }) {
    const user = await users.disable(id);
    return { text: `disabled user ${user.id} (${user.email})`, json: userJson(user) };
  },
};

const unlock: Command<Needs> = {
  summary: 'lift a lockout after too many failed passwords, and reset the failure count',
  args: ['ID'],
  async run({ args: [id] }, { users }) {
    const user = await users.unlock(id);
    return { text: `unlocked user ${user.id} (${user.email})`, json: userJson(user) };
  },
};

const update: Command<{ authz: Authz }> = {
  summary: "set or remove a user's attributes, which policies read as principal.attributes",
  args: ['ID'],
  options: {
    attr: {
      type: 'string',
      field: 'set',
      value: 'KEY=VALUE',
      multiple: true,
      parse: keyValue,
      description: 'set an attribute; a JSON value is taken as JSON (3, 2.5, true, "3", ["a"]), anything else as text; repeat for more',
    },
    'remove-attr': { type: 'string', field: 'remove', value: 'KEY', multiple: true, description: 'remove an attribute; repeat for more' },
  },
  async readInput(fields) {
    if (fields.set === undefined && fields.remove === undefined) throw new UsageError('give --attr or --remove-attr');
    return fields;
  },
  async run({ args: [id], fields }, { authz }) {
    const { userId, attributes } = await authz.directory.attributes.update({
      user: id,
      set: record(fields.set),
      remove: fields.remove as string[] | undefined,
    });
    return { text: `updated user ${userId}; attributes: ${JSON.stringify(attributes)}`, json: { id: userId, attributes } };
  },
};

export const user: Noun = { summary: 'create, list, disable, unlock and update users', commands: { create, list, disable, unlock, update } };
