// The only module that calls Cedar (@cedar-policy/cedar-wasm). Each call crosses into
// WebAssembly by JSON: the call object is stringified on the JavaScript side and parsed by Rust,
// and the answer comes back the same way, so what a decision costs grows with the entities it
// carries, not with the policy set, which is parsed once per version (`preparse`).
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import type * as CedarWasm from '@cedar-policy/cedar-wasm/nodejs';
import type { CedarValueJson, DetailedError, EntityJson, EntityUidJson } from '@cedar-policy/cedar-wasm/nodejs';
import { digest } from '../digest.ts';

// Cedar is loaded on first use: its WebAssembly instance adds about 15 MB to a process, which a
// process with no policy set (sign-in and tokens only) never needs.
const load = createRequire(import.meta.url);
let engine: typeof CedarWasm | undefined;
const cedar = () => (engine ??= load('@cedar-policy/cedar-wasm/nodejs') as typeof CedarWasm);

export type { CedarValueJson, EntityJson, EntityUidJson };

export interface ParsedPolicy {
  /** The policy's `@id("...")` annotation, else `policy<N>`, N its position from 0 (Cedar's own naming). */
  id: string;
  /** Where it starts in the file, from 1. */
  line: number;
  text: string;
}

export type PolicyParse = { ok: true; policies: ParsedPolicy[] } | { ok: false; line?: number; message: string };

export interface CedarRequest {
  principal: EntityUidJson;
  action: EntityUidJson;
  resource: EntityUidJson;
  context: Record<string, CedarValueJson>;
  entities: EntityJson[];
}

export interface CedarAnswer {
  decision: boolean;
  /** The ids of the policies that decided it: the permits that allowed, or the forbids that denied. */
  reasons: string[];
  /** Policies that failed to evaluate (and so did not apply), or why nothing was evaluated. */
  errors: string[];
}

const lineAt = (text: string, byteOffset: number) => {
  const before = Buffer.from(text).subarray(0, byteOffset).toString();
  return before.split('\n').length;
};

function describe(error: DetailedError, text: string): { line?: number; message: string } {
  const location = error.sourceLocations?.[0];
  const message = [error.message.replace(/^failed to parse policies from string: /, ''), location?.label, error.help].filter(Boolean).join('; ');
  return location ? { line: lineAt(text, location.start), message } : { message };
}

/**
 * Splits a policy file into its policies, in file order, each with its id and line. Templates
 * (policies with `?principal` or `?resource` slots) are refused: nothing here links them.
 */
export function parsePolicies(text: string): PolicyParse {
  if (!text.trim()) return { ok: true, policies: [] };
  const parts = cedar().policySetTextToParts(text);
  if (parts.type === 'failure') return { ok: false, ...describe(parts.errors[0], text) };
  if (parts.policy_templates.length) {
    const line = text.slice(0, Math.max(0, text.indexOf(parts.policy_templates[0]))).split('\n').length;
    return { ok: false, line, message: 'templates (policies with ?principal or ?resource slots) are not supported' };
  }
  // Cedar names the policies of a file policy0, policy1, ... in order, and returns them sorted
  // by that name as a string (policy10 before policy2): undo that sort.
  const names = parts.policies.map((_, i) => `policy${i}`);
  const byName = new Map([...names].sort().map((name, i) => [name, parts.policies[i]]));
  const policies: ParsedPolicy[] = [];
  const seen = new Map<string, number>();
  let cursor = 0;
  // Lines are counted on from the previous policy, so a file of thousands of policies takes
  // linear time (every instance parses a new live version).
  let counted = 0;
  let linesBefore = 1;
  for (const [position, name] of names.entries()) {
    const policyText = byName.get(name)!;
    const at = text.indexOf(policyText, cursor);
    cursor = at + policyText.length;
    let line: number;
    if (at < counted) line = text.slice(0, at).split('\n').length;
    else {
      for (let i = text.indexOf('\n', counted); i !== -1 && i < at; i = text.indexOf('\n', i + 1)) linesBefore++;
      counted = at;
      line = linesBefore;
    }
    const json = cedar().policyToJson(policyText);
    const annotated = json.type === 'success' ? json.json.annotations?.id : undefined;
    const id = annotated ?? `policy${position}`;
    if (!id) return { ok: false, line, message: 'an @id annotation must not be empty' };
    if (seen.has(id)) return { ok: false, line, message: `policy id ${id} is already used by the policy on line ${seen.get(id)}` };
    seen.set(id, line);
    policies.push({ id, line, text: policyText });
  }
  return { ok: true, policies };
}

/** The name of the set without policies, which denies every request without asking Cedar. */
const EMPTY_SET = 'empty';

/** Preparsed policy sets of this process, by the digest of their policies. */
const preparsed = new Set<string>();

/** A set's policies as Cedar takes them: text by id. */
const recordOf = (policies: ParsedPolicy[]) => Object.fromEntries(policies.map((p) => [p.id, p.text]));
const idOf = (record: Record<string, string>) => (Object.keys(record).length ? digest(JSON.stringify(record)) : EMPTY_SET);

/** The name `authorize` knows a set by, derived from its policies: the same policies, the same name. */
export const policySetId = (policies: ParsedPolicy[]) => idOf(recordOf(policies));

/**
 * Parses a policy set once into Cedar's cache, under a name derived from its content, so that
 * any number of engines in one process share it. Returns the name `authorize` takes.
 */
export function preparse(policies: ParsedPolicy[]): string {
  const record = recordOf(policies);
  const setId = idOf(record);
  if (setId === EMPTY_SET || preparsed.has(setId)) return setId;
  const answer = cedar().preparsePolicySet(setId, { staticPolicies: record });
  if (answer.type === 'failure') throw new Error(`Cedar refused a policy set it had parsed: ${answer.errors[0]?.message}`);
  preparsed.add(setId);
  return setId;
}

/** One decision against a preparsed set. Never throws: whatever Cedar refuses is a deny with the reason. */
export function authorize(setId: string, request: CedarRequest): CedarAnswer {
  if (setId === EMPTY_SET) return { decision: false, reasons: [], errors: [] };
  let answer: ReturnType<typeof CedarWasm.statefulIsAuthorized>;
  try {
    answer = cedar().statefulIsAuthorized({ ...request, preparsedPolicySetId: setId });
  } catch (error) {
    return { decision: false, reasons: [], errors: [(error as Error).message] };
  }
  if (answer.type === 'failure') return { decision: false, reasons: [], errors: answer.errors.map((e) => e.message) };
  const { decision, diagnostics } = answer.response;
  return { decision: decision === 'allow', reasons: diagnostics.reason, errors: diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`) };
}

/** What stops a boxcar early (AuthZEN 1.0 `evaluations_semantic`): the first deny, the first permit, or nothing. */
export type StopAt = 'deny' | 'permit' | undefined;

/** One decision and what the engine alone spent on it. */
export interface TimedAnswer extends CedarAnswer {
  seconds: number;
}

/**
 * Decisions in order against one preparsed set. A `null` request was refused before it reached
 * the engine: it is a deny, answered `null`. Stops after the first answer `stopAt` names.
 */
export function authorizeAll(setId: string, requests: (CedarRequest | null)[], stopAt: StopAt): (TimedAnswer | null)[] {
  const answers: (TimedAnswer | null)[] = [];
  for (const request of requests) {
    let decision = false;
    if (request) {
      const started = performance.now();
      const answer = authorize(setId, request);
      answers.push({ ...answer, seconds: (performance.now() - started) / 1000 });
      decision = answer.decision;
    } else answers.push(null);
    if ((stopAt === 'deny' && !decision) || (stopAt === 'permit' && decision)) break;
  }
  return answers;
}
