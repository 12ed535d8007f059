import type { CreateUserBody, User, UserService } from '../core/users.ts';
import { formatDate, table, type Command, type Noun } from './output.ts';
import { readPassword } from './password-input.ts';

type Needs = { users: UserService };

const create: Command<Needs> = {
  summary: 'create a user who signs in with an email address and a password',
  options: {
    email: { type: 'string', field: 'email', value: 'EMAIL', required: true, description: 'sign-in address, stored lower-cased' },
    'password-stdin': { type: 'boolean', field: 'passwordStdin', description: 'read the password from the first line of standard input (for scripts); without it, it is asked for on the terminal' },
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

export const user: Noun = { summary: 'create, list, disable and unlock users', commands: { create, list, disable, unlock } };
