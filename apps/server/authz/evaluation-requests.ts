import { z } from 'zod';
import { evaluationsSemantics, type EvaluationRequest, type EvaluationsSemantic } from '../../core/authz/decision-point.ts';

/** The most evaluations one boxcar may hold: a larger batch is split by the caller. */
export const MAX_EVALUATIONS = 100;
/** The largest request body either endpoint reads. */
export const MAX_BODY_BYTES = 256 * 1024;

const properties = z.record(z.string(), z.unknown());
const name = (what: string) =>
  z
    .string({ error: `${what}: expected a string` })
    .min(1, `${what}: must not be empty`)
    .max(256, `${what}: at most 256 characters`);

// AuthZEN Authorization API 1.0 §5 (information model): subject and resource {type, id,
// properties?}, action {name, properties?}, context: an object.
const subject = z.object(
  { type: name('subject.type'), id: name('subject.id'), properties: properties.optional() },
  { error: 'subject: expected {type, id, properties?}' },
);
const resource = z.object(
  { type: name('resource.type'), id: name('resource.id'), properties: properties.optional() },
  { error: 'resource: expected {type, id, properties?}' },
);
const action = z.object({ name: name('action.name'), properties: properties.optional() }, { error: 'action: expected {name, properties?}' });
const context = z.record(z.string(), z.unknown(), { error: 'context: expected an object' });

export const evaluationSchema = z.object({ subject, action, resource, context: context.optional() });

const partialEvaluation = z.object(
  { subject: subject.optional(), action: action.optional(), resource: resource.optional(), context: context.optional() },
  { error: 'evaluations: expected objects' },
);

export const evaluationsSchema = partialEvaluation.extend({
  evaluations: z
    .array(partialEvaluation, { error: 'evaluations: expected an array' })
    .max(MAX_EVALUATIONS, `evaluations: at most ${MAX_EVALUATIONS} in one request`)
    .optional(),
  options: z
    .object({
      evaluations_semantic: z
        .enum(evaluationsSemantics, { error: `options.evaluations_semantic: expected one of ${evaluationsSemantics.join(', ')}` })
        .optional(),
    })
    .catchall(z.unknown())
    .optional(),
});

/** The first problem zod found, as `path: message` (zod's messages here already name their path). */
export const firstProblem = (error: z.ZodError) => {
  const issue = error.issues[0];
  const path = issue.path.join('.');
  return issue.message.includes(':') || !path ? issue.message : `${path}: ${issue.message}`;
};

/**
 * A boxcar's evaluations with the top-level subject, action, resource and context as defaults
 * (AuthZEN §7.1.1: a key of an evaluation wins over the default); without `evaluations`, the
 * request is one evaluation. Returns a problem when an evaluation lacks a part and no default
 * gives it.
 */
export function boxcar(body: z.infer<typeof evaluationsSchema>): { evaluations: EvaluationRequest[]; semantic: EvaluationsSemantic } | { problem: string } {
  const { evaluations, options, ...defaults } = body;
  const semantic = options?.evaluations_semantic ?? 'execute_all';
  const items = evaluations?.length ? evaluations : [{}];
  const merged: EvaluationRequest[] = [];
  for (const [i, item] of items.entries()) {
    const evaluation = { ...defaults, ...item };
    for (const part of ['subject', 'action', 'resource'] as const) {
      if (!evaluation[part]) return { problem: evaluations?.length ? `evaluations.${i}.${part}: missing, and no default ${part} given` : `${part}: missing` };
    }
    merged.push(evaluation as EvaluationRequest);
  }
  return { evaluations: merged, semantic };
}
