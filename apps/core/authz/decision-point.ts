import type { CedarRequest, StopAt, TimedAnswer } from './cedar-engine.ts';
import { InvalidValue } from './cedar-values.ts';
import { cedarRequest, type EvaluationRequest } from './entities.ts';
import type { PolicySet } from './live-policies.ts';
import { createInProcessEngine, type PolicyEngine } from './policy-engine.ts';
import type { Subject, SubjectReader, SubjectRef } from './subject-reader.ts';
import { systemClock, type Clock } from '../clock.ts';

export type { EvaluationRequest };

export interface Evaluation {
  decision: boolean;
  /** Ids of the policies that decided: the permits that allowed, or the forbids that denied. Empty for a default deny. */
  reasons: string[];
  /** Policies that failed to evaluate (and so did not apply), or what was wrong with the request. */
  errors?: string[];
  /** Set when the request itself cannot be evaluated (a resource type that is no Cedar name, a value Cedar cannot hold): a 400 over HTTP. */
  invalid?: string;
}

/** AuthZEN 1.0 boxcar semantics. */
export const evaluationsSemantics = ['execute_all', 'deny_on_first_deny', 'permit_on_first_permit'] as const;
export type EvaluationsSemantic = (typeof evaluationsSemantics)[number];

/** What one decision cost the engine alone (the Cedar call), for metrics and benchmarks. */
export interface DecisionObservation {
  decision: boolean;
  invalid: boolean;
  engineSeconds: number;
}

const subjectTypes = new Set(['user', 'client']);
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** What makes a request impossible to evaluate before anything is read; undefined when it is well formed. */
export function requestProblem(request: EvaluationRequest): string | undefined {
  if (!isObject(request)) return 'expected an object';
  const { subject, action, resource, context } = request;
  if (!isObject(subject) || typeof subject.type !== 'string' || typeof subject.id !== 'string') return 'subject: expected {type, id}';
  if (!subjectTypes.has(subject.type)) return `subject.type: expected user or client`;
  if (!isObject(action) || typeof action.name !== 'string') return 'action: expected {name}';
  if (!isObject(resource) || typeof resource.type !== 'string' || typeof resource.id !== 'string') return 'resource: expected {type, id}';
  for (const [path, value] of [
    ['subject.properties', subject.properties],
    ['action.properties', action.properties],
    ['resource.properties', resource.properties],
    ['context', context],
  ] as const) {
    if (value !== undefined && !isObject(value)) return `${path}: expected an object`;
  }
  return undefined;
}

const invalid = (problem: string): Evaluation => ({ decision: false, reasons: [], errors: [problem], invalid: problem });

/**
 * The policy decision point: AuthZEN requests evaluated by Cedar against the live policy set,
 * with what the directory knows of the subject added to what the caller sent. Never throws on
 * bad input (that is a deny with `invalid` set); rejects only when the directory cannot be read
 * or the engine has stopped. Cedar runs where `engine` puts it (policy-engine.ts): on this thread
 * unless told otherwise.
 */
export function createDecisionPoint({
  subjects,
  policies,
  engine = createInProcessEngine(),
  now = systemClock,
  onDecision,
}: {
  subjects: Pick<SubjectReader, 'read'>;
  policies: () => PolicySet;
  engine?: PolicyEngine;
  now?: Clock;
  onDecision?: (observation: DecisionObservation) => void;
}) {
  /**
   * The Cedar request for an evaluation, or the evaluation that refuses it before Cedar is asked:
   * `counted` when Cedar could not take its values (a decision for the metrics, once answered).
   */
  function prepare(
    known: Map<string, Subject>,
    request: EvaluationRequest,
    problem: string | undefined,
    nowSeconds: number,
  ): { call: CedarRequest } | { refused: Evaluation; counted: boolean } {
    if (problem) return { refused: invalid(problem), counted: false };
    try {
      return { call: cedarRequest(known.get(keyOf(request))!, request, nowSeconds) };
    } catch (error) {
      return { refused: invalid(error instanceof InvalidValue ? error.message : `cannot evaluate: ${(error as Error).message}`), counted: true };
    }
  }

  function evaluation(answer: TimedAnswer, set: PolicySet): Evaluation {
    onDecision?.({ decision: answer.decision, invalid: false, engineSeconds: answer.seconds });
    // Cedar lists the deciding policies in no fixed order: give them in file order.
    if (answer.reasons.length > 1) answer.reasons.sort((a, b) => (set.positions.get(a) ?? 0) - (set.positions.get(b) ?? 0));
    return answer.errors.length
      ? { decision: answer.decision, reasons: answer.reasons, errors: answer.errors }
      : { decision: answer.decision, reasons: answer.reasons };
  }

  const refOf = (request: EvaluationRequest): SubjectRef => ({ type: request.subject.type as SubjectRef['type'], id: request.subject.id });
  const keyOf = (request: EvaluationRequest) => `${request.subject.type}:${request.subject.id}`;

  /**
   * Evaluations in order, against one policy version. `stopAt` ends them after the first deny
   * (or permit): the answers are those up to and including it.
   */
  async function evaluateAll(requests: EvaluationRequest[], stopAt: StopAt): Promise<Evaluation[]> {
    const problems = requests.map(requestProblem);
    const read = new Map<string, Promise<Subject>>();
    for (const [i, request] of requests.entries()) {
      if (!problems[i] && !read.has(keyOf(request))) read.set(keyOf(request), subjects.read(refOf(request)));
    }
    // Together: a read that fails while another is awaited must still be someone's rejection.
    const subjectsRead = await Promise.all(read.values());
    const known = new Map([...read.keys()].map((key, i) => [key, subjectsRead[i]]));
    const set = policies();
    const nowSeconds = Math.floor(now() / 1000);
    const prepared = requests.map((request, i) => prepare(known, request, problems[i], nowSeconds));
    const answers = await engine.decide(
      set,
      prepared.map((p) => ('call' in p ? p.call : null)),
      stopAt,
    );
    return answers.map((answer, i) => {
      if (answer) return evaluation(answer, set);
      const { refused, counted } = prepared[i] as { refused: Evaluation; counted: boolean };
      // Counted once answered: a boxcar that stops early does not answer the rest.
      if (counted) onDecision?.({ decision: false, invalid: true, engineSeconds: 0 });
      return refused;
    });
  }

  return {
    async evaluate(request: EvaluationRequest): Promise<Evaluation> {
      return (await evaluateAll([request], undefined))[0];
    },

    /**
     * A boxcar, in order. `deny_on_first_deny` and `permit_on_first_permit` stop after the first
     * deny (or permit) and answer the evaluations up to and including it. One policy version
     * decides them all.
     */
    evaluateMany(requests: EvaluationRequest[], semantic: EvaluationsSemantic = 'execute_all'): Promise<Evaluation[]> {
      return evaluateAll(requests, semantic === 'deny_on_first_deny' ? 'deny' : semantic === 'permit_on_first_permit' ? 'permit' : undefined);
    },
  };
}

export type DecisionPoint = ReturnType<typeof createDecisionPoint>;
