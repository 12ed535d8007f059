import { readFileSync } from 'node:fs';
import type { Authz } from '../core/authz/authz.ts';
import { createDecisionPoint } from '../core/authz/decision-point.ts';
import { fixedPolicySet, type PolicySet } from '../core/authz/live-policies.ts';
import type { PolicyVersionRow } from '../core/authz/policies.ts';
import { AppError } from '../core/errors.ts';
import { keyValue, record } from './key-value.ts';
import { formatDate, table, UsageError, type Command, type Noun } from './output.ts';

type Needs = { authz: Authz };

function readText(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`${flag}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** The service's `line N: ...`, told with the file it is about. */
async function aboutFile<T>(path: string, work: () => T | Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof AppError && error.code === 'policy.invalid_input') throw new AppError(error.code, `${path}, ${error.message}`);
    throw error;
  }
}

/** `command` names the command for the help pointer when the number is a positional, checked after parsing. */
function versionNumber(raw: string, flag: string, command?: string): number {
  if (!/^[1-9]\d{0,8}$/.test(raw)) throw new UsageError(`${flag}: expected a version number (1, 2, ...)`, command);
  return Number(raw);
}

const fileOption = { type: 'string', field: 'file', value: 'PATH', description: 'a file of Cedar policies' } as const;
const versionJson = (row: PolicyVersionRow) => ({
  version: row.version,
  policies: row.policyIds,
  restored_from: row.restoredFrom,
  actor: row.actor,
  created_at: row.createdAt,
});
const ids = (row: PolicyVersionRow) =>
  `${row.policyIds.length} ${row.policyIds.length === 1 ? 'policy' : 'policies'}${row.policyIds.length ? `: ${row.policyIds.join(', ')}` : ''}`;

const set: Command<Needs> = {
  summary: 'check a file of Cedar policies and make it the live version (on an error nothing changes)',
  options: { file: { ...fileOption, required: true } },
  readInput: async (fields) => ({ ...fields, text: readText(fields.file as string, '--file') }),
  async run({ fields }, { authz }) {
    const row = await aboutFile(fields.file as string, () => authz.policies.set(fields.text as string));
    return { text: `policy version ${row.version} is live (${ids(row)})`, json: versionJson(row) };
  },
};

const show: Command<Needs> = {
  summary: 'print the live policies, or those of VERSION',
  optionalArgs: ['VERSION'],
  async run({ args }, { authz }) {
    const row = await authz.policies.show(args[0] === undefined ? undefined : versionNumber(args[0], 'VERSION', 'policy show'));
    return { text: row.text.replace(/\n$/, ''), json: { ...versionJson(row), text: row.text } };
  },
};

const versions: Command<Needs> = {
  summary: 'list the stored policy versions, oldest first; the last is live',
  async run(_input, { authz }) {
    const all = await authz.policies.versions();
    const last = all.at(-1)?.version;
    return {
      text: table(
        ['VERSION', 'LIVE', 'POLICIES', 'BY', 'CREATED', 'NOTE'],
        all.map((v) => [
          v.version,
          v.version === last ? 'yes' : '',
          v.policyIds.length,
          v.actor ?? '-',
          formatDate(v.createdAt),
          v.restoredFrom ? `restores version ${v.restoredFrom}` : '',
        ]),
      ),
      json: all.map((v) => ({
        version: v.version,
        live: v.version === last,
        policies: v.policyIds,
        restored_from: v.restoredFrom,
        actor: v.actor,
        created_at: v.createdAt,
      })),
    };
  },
};

const rollback: Command<Needs> = {
  summary: 'make the policies of an earlier VERSION live again (stored as a new version)',
  args: ['VERSION'],
  async run({ args: [version] }, { authz }) {
    const row = await authz.policies.rollback(versionNumber(version, 'VERSION', 'policy rollback'));
    return { text: `policy version ${row.version} is live: the policies of version ${row.restoredFrom} (${ids(row)})`, json: versionJson(row) };
  },
};

function typeAndId(raw: string, flag: string, shape: string): { type: string; id: string } {
  const match = /^((?:[^:]|::)+):(.+)$/s.exec(raw);
  if (!match) throw new UsageError(`${flag}: expected ${shape}`);
  return { type: match[1], id: match[2] };
}

/** The file given (checked, not stored), the version given, or the live one. */
async function policiesToTry(fields: Record<string, unknown>, authz: Authz): Promise<PolicySet> {
  if (fields.file !== undefined) {
    const text = fields.text as string;
    return aboutFile(fields.file as string, () => {
      authz.policies.check(text);
      return fixedPolicySet(undefined, text);
    });
  }
  const row = fields.version === undefined ? await authz.policies.current() : await authz.policies.show(fields.version as number);
  return row ? fixedPolicySet(row.version, row.text) : fixedPolicySet(undefined, '');
}

const test: Command<Needs> = {
  summary: 'evaluate one request against the live policies (or --file, or --version) and say which policies decided it',
  options: {
    subject: {
      type: 'string',
      field: 'subject',
      value: 'user:ID|client:ID',
      required: true,
      description: 'who asks: a user by id (or email address) or a client by client_id',
      parse: (raw, flag) => typeAndId(raw, flag, 'user:ID or client:ID'),
    },
    action: { type: 'string', field: 'action', value: 'NAME', required: true, description: 'the action (Action::"NAME")' },
    resource: {
      type: 'string',
      field: 'resource',
      value: 'TYPE:ID',
      required: true,
      description: 'the resource (TYPE::"ID")',
      parse: (raw, flag) => typeAndId(raw, flag, 'TYPE:ID'),
    },
    'resource-prop': {
      type: 'string',
      field: 'resourceProps',
      value: 'KEY=VALUE',
      multiple: true,
      parse: keyValue,
      description: 'a resource property; JSON values are taken as JSON ({"type":"user","id":"..."} is an entity); repeat for more',
    },
    'subject-prop': {
      type: 'string',
      field: 'subjectProps',
      value: 'KEY=VALUE',
      multiple: true,
      parse: keyValue,
      description: 'a property the caller sends about the subject (principal.properties); repeat for more',
    },
    context: {
      type: 'string',
      field: 'context',
      value: 'KEY=VALUE',
      multiple: true,
      parse: keyValue,
      description: 'a context entry (context.now is always the time now); repeat for more',
    },
    file: { ...fileOption, description: 'try the policies of this file instead of the live ones (nothing is stored)' },
    version: { type: 'string', field: 'version', value: 'VERSION', parse: versionNumber, description: 'try a stored version instead of the live one' },
  },
  async readInput(fields) {
    if (fields.file !== undefined && fields.version !== undefined) throw new UsageError('give --file or --version, not both');
    const subject = fields.subject as { type: string; id: string };
    if (subject.type !== 'user' && subject.type !== 'client') throw new UsageError('--subject: expected user:ID or client:ID');
    return { ...fields, text: fields.file === undefined ? undefined : readText(fields.file as string, '--file') };
  },
  async run({ fields }, { authz }) {
    const given = fields.subject as { type: 'user' | 'client'; id: string };
    const subject = given.type === 'user' && given.id.includes('@') ? { ...given, id: (await authz.directory.attributes.get(given.id)).userId } : given;
    const policySet = await policiesToTry(fields, authz);
    const resource = fields.resource as { type: string; id: string };
    const request = {
      subject: { ...subject, properties: record(fields.subjectProps) },
      action: { name: fields.action as string },
      resource: { ...resource, properties: record(fields.resourceProps) },
      context: record(fields.context),
    };
    const result = await createDecisionPoint({ subjects: authz.subjects, policies: () => policySet }).evaluate(request);
    if (result.invalid) throw new AppError('policy.invalid_input', result.invalid);
    const known = (await authz.subjects.read(subject)).known;
    const source =
      fields.file !== undefined
        ? `${fields.file} (not stored)`
        : policySet.version === undefined
          ? 'none set (everything is denied)'
          : `version ${policySet.version}`;
    const lines = [
      `decision: ${result.decision ? 'allow' : 'deny'}`,
      `decided by: ${result.reasons.join(', ') || 'no policy (default deny)'}`,
      `policies: ${source}`,
      ...(result.errors ?? []).map((error) => `error: ${error}`),
      ...(known ? [] : [`note: ${subject.type} ${subject.id} is unknown to Gatehouse, so only what was given counts`]),
    ];
    return {
      text: lines.join('\n'),
      json: {
        decision: result.decision,
        reasons: result.reasons,
        errors: result.errors ?? [],
        policy_version: policySet.version ?? null,
        subject_known: known,
      },
    };
  },
};

export const policy: Noun = {
  summary: 'Cedar policies: store versions, roll back, and test decisions before shipping them',
  commands: { set, show, versions, rollback, test },
};
