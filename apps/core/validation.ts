import { z } from 'zod';
import { AppError } from './errors.ts';

/**
 * Parses input at the edge of a service. The first problem becomes one line naming the field
 * (`client.invalid_input: redirectUris.0: expected an absolute URL`).
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue.path.join('.');
  return fail(what, field ? `${field}: ${issue.message}` : issue.message);
}

function fail(what: string, message: string): never {
  throw new AppError(`${what}.invalid_input`, message, { status: 400 });
}

const uuid = z.uuid();
/** Whether an id can be a row id (a UUID): anything else is not looked up. */
export const isUuid = (id: string) => uuid.safeParse(id).success;

/** PostgreSQL's text cannot hold NUL: a value with one names nothing stored, and is not looked up. */
export const isStorable = (value: string) => !value.includes('\u0000');

/** Email addresses are stored and compared trimmed and lower-cased. */
export const normalizeEmail = (email: string) => email.trim().toLowerCase();
