import { z } from 'zod';

/** What an operator reads about one environment variable, in the README and in `.env.example`. */
export interface VariableDoc {
  /** One or two sentences: what it means, its unit, when to change it. */
  description: string;
  /** The value in force when the variable is unset, written as an operator would write it. */
  default?: string;
  /** Without a default: what the README's Default column says instead of `unset`, e.g. `unset: embedded`. */
  unset?: string;
  /** Without a default: the value `.env.example` shows, commented out. */
  example?: string;
}

/** A group of variables as the documents show it; `intro` applies to every variable in it. */
export interface Section {
  title: string;
  intro?: string;
  variables: Record<string, z.ZodType>;
}

export const variableDocs = z.registry<VariableDoc>();

/**
 * One environment variable: the schema of its value and its documentation. The default is text
 * parsed like an operator's value (zod's `prefault`), so the documented default is exactly the
 * one in force; a variable without a default is optional.
 */
export function variable<S extends z.ZodType>(schema: S, doc: VariableDoc & { default: string }): z.ZodPrefault<S>;
export function variable<S extends z.ZodType>(schema: S, doc: VariableDoc & { default?: undefined }): z.ZodOptional<S>;
export function variable(schema: z.ZodType, doc: VariableDoc): z.ZodType {
  const withDefault = doc.default === undefined ? schema.optional() : schema.prefault(doc.default);
  return withDefault.register(variableDocs, doc);
}

export const docOf = (schema: z.ZodType): VariableDoc => {
  const doc = variableDocs.get(schema);
  if (!doc) throw new Error('an environment variable was declared without variable()');
  return doc;
};
