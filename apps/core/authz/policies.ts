import type { AuditLog } from '../audit/audit-log.ts';
import { AppError } from '../errors.ts';
import { parsePolicies, type ParsedPolicy } from './cedar-engine.ts';
import type { PolicyQueries, PolicyVersionRow, PolicyVersionSummary } from './policy-queries.ts';

export type { ParsedPolicy, PolicyVersionRow, PolicyVersionSummary };

export const MAX_POLICY_BYTES = 1024 * 1024;
export const MAX_POLICIES = 10_000;

/**
 * The policies of a file, or a `policy.invalid_input` error naming the line. There is no Cedar
 * schema: resource types and attributes are whatever callers send, so what can be checked before
 * a request arrives is that every policy parses and has an id of its own.
 */
export function checkPolicies(text: string): ParsedPolicy[] {
  if (Buffer.byteLength(text) > MAX_POLICY_BYTES) throw new AppError('policy.invalid_input', `a policy file holds at most ${MAX_POLICY_BYTES} bytes`);
  const parsed = parsePolicies(text);
  if (!parsed.ok) throw new AppError('policy.invalid_input', parsed.line ? `line ${parsed.line}: ${parsed.message}` : parsed.message);
  if (parsed.policies.length > MAX_POLICIES) throw new AppError('policy.invalid_input', `a policy file holds at most ${MAX_POLICIES} policies`);
  return parsed.policies;
}

/**
 * The policy administration point: policy sets stored as numbered versions, append-only. The
 * highest version is live; a rollback stores an earlier version's text again as a new one.
 */
export function createPolicyStore({ queries, audit, actor = 'system' }: { queries: PolicyQueries; audit?: AuditLog; actor?: string }) {
  const record: AuditLog['record'] = (event) => audit?.record(event) ?? Promise.resolve();
  async function find(version: number): Promise<PolicyVersionRow> {
    const row = Number.isSafeInteger(version) ? await queries.find(version) : undefined;
    if (!row) throw new AppError('policy.not_found', `no policy version ${version}`, { status: 404 });
    return row;
  }

  return {
    check: checkPolicies,

    /** Validates and stores the text as the new live version; on an error nothing is stored. */
    async set(text: string): Promise<PolicyVersionRow> {
      const policies = checkPolicies(text);
      const row = await queries.insert({ text, policyIds: policies.map((p) => p.id), restoredFrom: null, actor });
      await record({ type: 'policy.set', details: { version: row.version, policies: row.policyIds.length } });
      return row;
    },

    /** A version, or the live one. */
    async show(version?: number): Promise<PolicyVersionRow> {
      if (version !== undefined) return find(version);
      const latest = await queries.latest();
      if (!latest) throw new AppError('policy.not_found', 'no policy has been set yet', { status: 404 });
      return latest;
    },

    /** The live version, or undefined before the first `set` (every request is then denied). */
    current: (): Promise<PolicyVersionRow | undefined> => queries.latest(),

    currentVersion: (): Promise<number | undefined> => queries.currentVersion(),

    versions: (): Promise<PolicyVersionSummary[]> => queries.list(),

    /** Makes an earlier version's policies live again, as a new version. */
    async rollback(version: number): Promise<PolicyVersionRow> {
      const earlier = await find(version);
      checkPolicies(earlier.text);
      const row = await queries.insert({ text: earlier.text, policyIds: earlier.policyIds, restoredFrom: earlier.version, actor });
      await record({ type: 'policy.rolled_back', details: { version: row.version, restoredFrom: earlier.version } });
      return row;
    },
  };
}

export type PolicyStore = ReturnType<typeof createPolicyStore>;
