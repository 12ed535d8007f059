// What every `gatehouse` command shares: the shape of a command and its option table, the
// usage error, and how tables, dates and help are printed.
import type { Services } from '../core/services.ts';

/**
 * One command-line option. `field` names the service input it fills, so the service's
 * validation message (`redirectUris.0: expected an absolute URL`) is reported against the
 * option (`--redirect-uri 'ftp:x': expected an absolute URL`). Adding an option is one entry.
 */
export interface OptionSpec {
  type: 'string' | 'boolean';
  field: string;
  description: string;
  /** The placeholder shown in help, e.g. `URL` in `--redirect-uri URL`. */
  value?: string;
  /** Repeatable: every occurrence is kept, in order, as an array. */
  multiple?: boolean;
  required?: boolean;
  /** Turns the raw string into the field's value; throws UsageError when it cannot. */
  parse?: (raw: string, flag: string) => unknown;
}

export type OptionTable = Record<string, OptionSpec>;

/** What a handler receives: positionals by position, options by field, already parsed. */
export interface CommandInput {
  args: string[];
  fields: Record<string, unknown>;
}

/** A handler's answer: what a person reads, and what `--json` prints instead. */
export interface CommandResult {
  text: string;
  json: unknown;
}

export interface CommandContext extends Services {
  /** Applies pending migrations to the command's database; returns the names applied. */
  migrate(): Promise<string[]>;
}

export interface Command<Needs = CommandContext> {
  summary: string;
  /** Names of the positional arguments, all required (`['ID']`). */
  args?: readonly string[];
  /** Names of positional arguments that may follow them (`['VERSION']`). */
  optionalArgs?: readonly string[];
  options?: OptionTable;
  /** `db migrate` opens the database without migrating it first, to report what it applies. */
  migratesItself?: boolean;
  /**
   * Adds to the fields what must not come on the command line (a password), once the command
   * line and the configuration are known good and before the database opens.
   */
  readInput?(fields: Record<string, unknown>): Promise<Record<string, unknown>>;
  run(input: CommandInput, context: Needs): Promise<CommandResult>;
}

/** One noun (`user`, `client`, ...) and its verbs. */
export interface Noun {
  summary: string;
  commands: Record<string, Command>;
}

/** Bad command-line input: exit 2, one line, a pointer to the `--help` of `command`. */
export class UsageError extends Error {
  command?: string;

  constructor(message: string, command?: string) {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}

export const commaSeparated = (raw: string) =>
  raw
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

export function wholeSeconds(raw: string, flag: string): number {
  if (!/^\d+$/.test(raw)) throw new UsageError(`${flag}: expected a whole number of seconds`);
  return Number(raw);
}

/** UTC, to the second: `2026-11-23T02:01:34Z`. */
export const formatDate = (date: Date | null | undefined) => (date ? date.toISOString().replace(/\.\d{3}Z$/, 'Z') : '-');

export function table(columns: string[], rows: Array<Array<string | number | boolean>>): string {
  const cells = [columns, ...rows.map((row) => row.map(String))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  return cells.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ')).join('\n');
}

/** Options every command takes, on top of its own. */
export const commonOptions = {
  json: { type: 'boolean', description: 'print JSON instead of text' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
} as const;

/** Two aligned columns, as help lists commands and options. */
function definitions(entries: Array<[string, string]>): string {
  const width = Math.max(...entries.map(([term]) => term.length));
  return entries.map(([term, text]) => `  ${term.padEnd(width)}  ${text}`).join('\n');
}

const optionUsage = (flag: string, spec: OptionSpec) => (spec.type === 'string' ? `--${flag} ${spec.value ?? 'VALUE'}` : `--${flag}`);

const sentence = (text: string) => `${text[0].toUpperCase()}${text.slice(1)}.`;

const usageLine = (name: string, command: Command) =>
  [
    `gatehouse ${name}`,
    ...(command.args ?? []),
    ...(command.optionalArgs ?? []).map((arg) => `[${arg}]`),
    ...Object.entries(command.options ?? {})
      .filter(([, spec]) => spec.required)
      .map(([flag, spec]) => optionUsage(flag, spec)),
    '[options]',
  ].join(' ');

export function topHelp(nouns: Record<string, Noun>): string {
  return [
    'Usage: gatehouse <noun> <command> [options]',
    '',
    'Administers a Gatehouse server: its users, clients, signing keys and database schema.',
    '',
    'Nouns:',
    definitions(Object.entries(nouns).map(([name, noun]) => [name, noun.summary])),
    '',
    "Run 'gatehouse <noun> --help' for its commands; every command takes --json and --help.",
    'The database is DATABASE_URL, or else the embedded PostgreSQL under DATA_DIR (default .data),',
    'the one the server uses from the same directory. Settings come from the environment and .env.',
    "The embedded database is migrated as needed; a DATABASE_URL one only by 'gatehouse db migrate'.",
  ].join('\n');
}

export function nounHelp(name: string, noun: Noun): string {
  return [
    `Usage: gatehouse ${name} <command> [options]`,
    '',
    sentence(noun.summary),
    '',
    'Commands:',
    definitions(
      Object.entries(noun.commands).map(([verb, command]) => [
        [verb, ...(command.args ?? []), ...(command.optionalArgs ?? []).map((arg) => `[${arg}]`)].join(' '),
        command.summary,
      ]),
    ),
    '',
    `Run 'gatehouse ${name} <command> --help' for a command's options.`,
  ].join('\n');
}

export function commandHelp(name: string, command: Command): string {
  const own = Object.entries(command.options ?? {}).map(([flag, spec]): [string, string] => [
    optionUsage(flag, spec),
    `${spec.description}${spec.required ? ' (required)' : ''}`,
  ]);
  return [
    `Usage: ${usageLine(name, command)}`,
    '',
    sentence(command.summary),
    '',
    'Options:',
    definitions([...own, ['--json', commonOptions.json.description], ['-h, --help', commonOptions.help.description]]),
  ].join('\n');
}
