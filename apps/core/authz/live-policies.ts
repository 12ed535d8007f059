import { parsePolicies, preparse, type ParsedPolicy } from './cedar-engine.ts';
import type { PolicyStore } from './policies.ts';

/** A policy set ready for decisions: its version (undefined: none set, so everything is denied). */
export interface PolicySet {
  version: number | undefined;
  /** Cedar's name for the preparsed set. */
  setId: string;
  policies: ParsedPolicy[];
  /** Each policy's position in the file, by id. */
  positions: Map<string, number>;
}

/** A fixed policy set: a stored version or a file being tried out (`gatehouse policy test`). */
export function fixedPolicySet(version: number | undefined, text: string): PolicySet {
  const parsed = parsePolicies(text);
  if (!parsed.ok) throw new Error(`stored policy version ${version} no longer parses: ${parsed.message}`);
  return { version, setId: preparse(parsed.policies), policies: parsed.policies, positions: new Map(parsed.policies.map((p, i) => [p.id, i])) };
}

/**
 * The live policy set of this instance. It reads the live version's number every
 * `refreshSeconds` and, when it moved, loads and preparses that version once: another
 * instance's `policy set` or `rollback` is in force here within one interval. A version that
 * fails to load leaves the previous one in force, and is retried at the next interval.
 */
export async function createLivePolicies({
  store,
  refreshSeconds,
  onError = () => {},
}: {
  store: Pick<PolicyStore, 'currentVersion' | 'show'>;
  refreshSeconds: number;
  onError?: (error: unknown) => void;
}) {
  let live = fixedPolicySet(undefined, '');

  async function refresh(): Promise<void> {
    const version = await store.currentVersion();
    if (version === live.version || version === undefined) return;
    const row = await store.show(version);
    live = fixedPolicySet(row.version, row.text);
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
