// The `gatehouse` command: the only module of the CLI that reads process.env. It parses the
// command line before touching the database, so a usage error costs no PostgreSQL start-up.
// Only the checkout's embedded database is migrated on the way; a DATABASE_URL one changes
// schema only through `gatehouse db migrate` (or the server's start), never as a side effect
// of a CLI of another version listing users.
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from '../core/config/config.ts';
import { isDatabaseUnavailable } from '../core/db/database.ts';
import { AppError, ConfigError, DatabaseUnavailable } from '../core/errors.ts';
import { migrate, openRuntime } from '../core/db/runtime.ts';
import { createServices } from '../core/services.ts';
import { api } from './api.ts';
import { audit } from './audit.ts';
import { client } from './client.ts';
import { db } from './db.ts';
import { group } from './group.ts';
import { keys } from './keys.ts';
import { policy } from './policy.ts';
import { role } from './role.ts';
import { route } from './route.ts';
import { commandHelp, commonOptions, nounHelp, topHelp, UsageError, type Command, type Noun } from './output.ts';
import { user } from './user.ts';

const nouns: Record<string, Noun> = { user, client, api, group, role, policy, route, keys, db, audit };

interface Invocation {
  name: string;
  command: Command;
  args: string[];
  fields: Record<string, unknown>;
  json: boolean;
}

const wantsHelp = (argv: string[]) => argv.slice(0, argv.includes('--') ? argv.indexOf('--') : undefined).some((a) => a === '--help' || a === '-h');

/** Resolves `<noun> <verb>` and parses its options, or returns the help asked for. */
function parseInvocation(argv: string[]): Invocation | { help: string } {
  const [nounName, verb, ...rest] = argv;
  if (nounName === undefined) throw new UsageError('missing command', '');
  if (nounName === '--help' || nounName === '-h' || nounName === 'help') return { help: topHelp(nouns) };
  const noun = Object.hasOwn(nouns, nounName) ? nouns[nounName] : undefined;
  if (!noun) throw new UsageError(nounName.startsWith('-') ? `unknown option ${nounName}` : `unknown command '${nounName}'`, '');
  if (verb === undefined) throw new UsageError(`missing ${nounName} command`, nounName);
  if (verb === '--help' || verb === '-h') return { help: nounHelp(nounName, noun) };
  const command = Object.hasOwn(noun.commands, verb) ? noun.commands[verb] : undefined;
  if (!command) throw new UsageError(verb.startsWith('-') ? `unknown option ${verb}` : `unknown command '${nounName} ${verb}'`, nounName);
  const name = `${nounName} ${verb}`;
  if (wantsHelp(rest)) return { help: commandHelp(name, command) };
  try {
    return { name, command, ...parseOptions(rest, command) };
  } catch (error) {
    if (error instanceof UsageError) error.command ??= name;
    throw error;
  }
}

function parseOptions(argv: string[], command: Command) {
  const own = command.options ?? {};
  const parse = () => {
    try {
      return parseArgs({ args: argv, options: { ...own, ...commonOptions }, allowPositionals: true, strict: true, tokens: true });
    } catch (error) {
      throw new UsageError(parseArgsMessage(error as Error & { code?: string }));
    }
  };
  const { values, positionals, tokens } = parse();
  const expected = command.args ?? [];
  if (positionals.length < expected.length) throw new UsageError(`missing ${expected.slice(positionals.length).join(' ')}`);
  // Positionals are not echoed: a stray one may be half of a password that was not quoted.
  const optional = command.optionalArgs ?? [];
  if (positionals.length > expected.length + optional.length)
    throw new UsageError(`too many arguments (expected ${[...expected, ...optional.map((a) => `[${a}]`)].join(' ') || 'none'})`);

  const fields: Record<string, unknown> = {};
  for (const [flag, spec] of Object.entries(own)) {
    const given = tokens.filter((t) => t.kind === 'option' && t.name === flag).length;
    if (given > 1 && !spec.multiple) throw new UsageError(`--${flag} given more than once`);
    const value = (values as Record<string, string | string[] | boolean | undefined>)[flag];
    if (value === undefined) {
      if (spec.required) throw new UsageError(`--${flag} is required`);
      continue;
    }
    const parse = (raw: string) => (spec.parse ? spec.parse(raw, `--${flag}`) : raw);
    fields[spec.field] = typeof value === 'boolean' ? value : Array.isArray(value) ? value.map(parse) : parse(value);
  }
  return { args: positionals, fields, json: values.json === true };
}

/** Node's messages, without the values they quote (a misplaced password among them). */
function parseArgsMessage(error: Error & { code?: string }): string {
  const option = /'(-{1,2}[^' ]+)/.exec(error.message)?.[1];
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${option}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (error.message.includes('does not take')) return `${option} takes no value`;
      if (error.message.includes('ambiguous')) return `${option} needs a value (write ${option}=VALUE for one that starts with '-')`;
      return `${option} needs a value`;
    default:
      return error.message.split('\n')[0];
  }
}

/** A service's validation message, told in the command's own terms: `redirectUris.0` is `--redirect-uri 'x'`. */
function inputProblem(message: string, { command, fields }: Invocation): string {
  const match = /^(\w+)((?:\.\w+)*): (.*)$/s.exec(message);
  const flag = match && Object.entries(command.options ?? {}).find(([, spec]) => spec.field === match[1])?.[0];
  if (!match || !flag) return message;
  const [, field, path, problem] = match;
  const index = /^\.(\d+)$/.exec(path)?.[1];
  const value = fields[field];
  if (index !== undefined && Array.isArray(value)) return `--${flag} '${value[Number(index)]}': ${problem}`;
  return `--${flag}: ${path ? `${path.slice(1)}: ` : ''}${problem}`;
}

async function readInput({ name, command, fields }: Invocation): Promise<Record<string, unknown>> {
  try {
    return command.readInput ? await command.readInput(fields) : fields;
  } catch (error) {
    if (error instanceof UsageError) error.command ??= name;
    throw error;
  }
}

async function execute(invocation: Invocation, config: Config): Promise<void> {
  const runtime = await openRuntime(config, { migrate: !invocation.command.migratesItself && !config.databaseUrl });
  try {
    const { keyEncryptionKey, cookieKeys, clientSecretPepper } = config.secrets;
    if (runtime.generatedSecrets && !(keyEncryptionKey && cookieKeys && clientSecretPepper)) {
      await write(process.stderr, `gatehouse: note: generated development secrets in ${config.dataDir}/secrets.json; the server must use the same DATA_DIR\n`);
    }
    const services = createServices({ config, secrets: runtime.secrets, db: runtime.db, actor: 'cli' });
    const result = await invocation.command.run(
      { args: invocation.args, fields: invocation.fields },
      { ...services, migrate: () => migrate(runtime.databaseUrl) },
    );
    await write(process.stdout, `${invocation.json ? JSON.stringify(result.json, null, 2) : result.text}\n`);
  } finally {
    await runtime.close();
  }
}

/** Resolves once the text is handed to the OS, so exiting right after loses nothing (pipes are asynchronous on macOS). */
const write = (stream: NodeJS.WriteStream, text: string) => new Promise<void>((resolve) => stream.write(text, () => resolve()));

// Prisma opens its messages with the call that failed, which says nothing to an operator.
const oneLine = (text: string) =>
  text
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^Invalid `[^`]+` invocation: /, '');

/** The exit code and the one line that say what went wrong; never a stack trace. */
function explain(error: unknown, invocation?: Invocation): [code: number, line: string] {
  if (error instanceof UsageError) {
    const help = ['gatehouse', error.command, '--help'].filter(Boolean).join(' ');
    return [2, `${error.message} (see '${help}')`];
  }
  if (error instanceof ConfigError) return [2, `invalid configuration: ${error.message}`];
  if (error instanceof AppError) {
    const invalidInput = error.code.endsWith('.invalid_input');
    return [invalidInput ? 2 : 1, invalidInput && invocation ? inputProblem(error.message, invocation) : error.message];
  }
  if (error instanceof DatabaseUnavailable) return [1, `cannot reach the database: ${oneLine(error.reason)}`];
  const message = oneLine((error as Error)?.message ?? String(error));
  if (isDatabaseUnavailable(error)) return [1, `cannot reach the database: ${message}`];
  if ((error as { code?: string })?.code === 'P2021') return [1, `the database schema is behind (run 'gatehouse db migrate'): ${message}`];
  return [1, message];
}

async function main(argv: string[]): Promise<number> {
  let invocation: Invocation | undefined;
  try {
    const parsed = parseInvocation(argv);
    if ('help' in parsed) {
      await write(process.stdout, `${parsed.help}\n`);
      return 0;
    }
    invocation = parsed;
    try {
      process.loadEnvFile();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const config = loadConfig(process.env);
    invocation.fields = await readInput(invocation);
    await execute(invocation, config);
    return 0;
  } catch (error) {
    const [code, line] = interrupted ? [130, 'interrupted'] : explain(error, invocation);
    await write(process.stderr, `gatehouse: ${line}\n`);
    return code;
  }
}

// On Ctrl-C the embedded PostgreSQL (a child of this process) stops with it, and connections
// still open (the migrator's, for one) then fail with an unhandled 'error' event: one line, not a stack.
let interrupted = false;
process.once('SIGINT', () => {
  interrupted = true;
  if (process.listenerCount('SIGINT') === 0) process.exit(130);
});
process.on('uncaughtException', (error) => {
  process.stderr.write(`gatehouse: ${interrupted ? 'interrupted' : explain(error)[1]}\n`);
  process.exit(interrupted ? 130 : 1);
});

// Exits at once: a pool's idle timers or a child's pipes would otherwise keep the command alive.
process.exit(await main(process.argv.slice(2)));
