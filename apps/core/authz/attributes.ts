import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.ts';
import { AppError } from '../errors.ts';
import { parseInput } from '../validation.ts';
import type { AttributeQueries } from './attribute-queries.ts';
import { InvalidValue, toCedarValue } from './cedar-values.ts';
import type { Lookups } from './directory.ts';

export const MAX_ATTRIBUTES = 64;
export const MAX_ATTRIBUTES_BYTES = 8192;

const attributeKey = z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'expected a name of 1 to 64 letters, digits, _ or - starting with a letter');

export const updateAttributesSchema = z
  .object({
    user: z.string().trim().min(1).max(320),
    set: z.record(z.string(), z.unknown()).default({}),
    remove: z.array(attributeKey).default([]),
  })
  .refine((body) => Object.keys(body.set).length + body.remove.length > 0, { message: 'nothing to change', path: ['set'] });

export type UpdateAttributesBody = z.input<typeof updateAttributesSchema>;

const invalid = (message: string) => new AppError('user.invalid_input', message);
// PostgreSQL keeps a jsonb object's keys in an order of its own: answer them by name.
const sorted = (attributes: Record<string, unknown>) => Object.fromEntries(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : 1)));

/**
 * Users' free-form attributes, which policies read as `principal.attributes`. Each value must be
 * one Cedar can hold (see cedar-values.ts), so a stored attribute can never make a decision fail.
 */
export function createAttributeService({
  attributes,
  find,
  audit,
  onChange = () => {},
}: {
  attributes: AttributeQueries;
  find: Lookups;
  audit?: AuditLog;
  onChange?: () => void;
}) {
  return {
    async get(user: string): Promise<{ userId: string; attributes: Record<string, unknown> }> {
      const userId = await find.userId(user);
      return { userId, attributes: sorted(await attributes.get(userId)) };
    },

    /** Sets and removes attributes; the others stay. Returns them all. */
    async update(input: UpdateAttributesBody): Promise<{ userId: string; attributes: Record<string, unknown> }> {
      const body = parseInput(updateAttributesSchema, input, 'user');
      for (const [key, value] of Object.entries(body.set)) {
        const name = attributeKey.safeParse(key);
        if (!name.success) throw invalid(`set.${key}: ${name.error.issues[0].message}`);
        try {
          toCedarValue(value, `set.${key}`);
        } catch (error) {
          if (error instanceof InvalidValue) throw invalid(error.message);
          throw error;
        }
      }
      const userId = await find.userId(body.user);
      const next = await attributes.update(userId, body.set, body.remove, (candidate) => {
        if (Object.keys(candidate).length > MAX_ATTRIBUTES) throw invalid(`set: a user has at most ${MAX_ATTRIBUTES} attributes`);
        if (Buffer.byteLength(JSON.stringify(candidate)) > MAX_ATTRIBUTES_BYTES)
          throw invalid(`set: a user's attributes take at most ${MAX_ATTRIBUTES_BYTES} bytes as JSON`);
      });
      onChange();
      await audit?.record({ type: 'user.changed', userId, details: { attributes: { set: body.set, removed: body.remove } } });
      return { userId, attributes: sorted(next) };
    },
  };
}

export type AttributeService = ReturnType<typeof createAttributeService>;
