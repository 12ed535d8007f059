import { parsePolicies, policySetId, type ParsedPolicy } from './cedar-engine.ts';
import type { PolicyStore } from './policies.ts';

/** A policy set ready for decisions: its version (undefined: none set, so everything is denied). */
export interface PolicySet {
  version: number | undefined;
  /** Cedar's name for the set (policy-engine.ts preparses it where Cedar runs). */
  setId: string;
  policies: ParsedPolicy[];
  /** Each policy's position in the file, by id. */
  positions: Map<string, number>;
}

/** The set a version's parsed policies make. */
export const policySetOf = (version: number | undefined, policies: ParsedPolicy[]): PolicySet => ({
  version,
  setId: policySetId(policies),
  policies,
  positions: new Map(policies.map((p, i) => [p.id, i])),
});

/** The error a stored version that no longer parses is (it parsed when it was stored). */
export const unparsable = (version: number | undefined, message: string) => new Error(`stored policy version ${version} no longer parses: ${message}`);

/** A fixed policy set, parsed on this thread: a stored version or a file being tried out (`gatehouse policy test`). */
export function fixedPolicySet(version: number | undefined, text: string): PolicySet {
  const parsed = parsePolicies(text);
  if (!parsed.ok) throw unparsable(version, parsed.message);
  return policySetOf(version, parsed.policies);
}

/**
 * The live policy set of this instance. It reads the live version's number every
 * `refreshSeconds` and, when it moved, loads and parses that version once: another
 * instance's `policy set` or `rollback` is in force here within one interval. A version that
 * fails to load leaves the previous one in force, and is retried at the next interval.
 */
export async function createLivePolicies({
  store,
  refreshSeconds,
  load = async (version, text) => fixedPolicySet(version, text),
  onError = () => {},
}: {
  store: Pick<PolicyStore, 'currentVersion' | 'show'>;
  refreshSeconds: number;
  /** Parses a version where Cedar runs (policy-engine.ts). */
  load?: (version: number, text: string) => Promise<PolicySet>;
  onError?: (error: unknown) => void;
}) {
  let live = fixedPolicySet(undefined, '');

  async function refresh(): Promise<void> {
    const version = await store.currentVersion();
    if (version === live.version || version === undefined) return;
    const row = await store.show(version);
    live = await load(row.version, row.text);
  }

  await refresh();
  const timer = setInterval(() => void refresh().catch(onError), refreshSeconds * 1000);
  timer.unref();

  return {
    current: (): PolicySet => live,
    refresh,
    stop: () => clearInterval(timer),
  };
}

export type LivePolicies = Awaited<ReturnType<typeof createLivePolicies>>;
