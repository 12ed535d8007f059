import type { Database } from '../db/database.ts';

/** Users' free-form attributes (one JSON object per user); plain objects in and out. */
export function createAttributeQueries(db: Database) {
  return {
    async get(userId: string): Promise<Record<string, unknown>> {
      const row = await db.userAttributes.findUnique({ where: { userId } });
      return (row?.attributes as Record<string, unknown> | undefined) ?? {};
    },

    /**
     * Sets and removes keys in one transaction, the row locked while `check` looks at the result
     * (it throws to refuse it), so that concurrent updates of other keys are not lost.
     */
    async update(
      userId: string,
      set: Record<string, unknown>,
      remove: string[],
      check: (next: Record<string, unknown>) => void,
    ): Promise<Record<string, unknown>> {
      return db.$transaction(async (tx) => {
        // The row exists before it is locked, so two first updates cannot both start from nothing.
        await tx.$executeRawUnsafe(
          `INSERT INTO user_attributes (user_id, attributes, updated_at) VALUES ($1::uuid, '{}', now() AT TIME ZONE 'UTC') ON CONFLICT DO NOTHING`,
          userId,
        );
        const [row] = await tx.$queryRawUnsafe<Array<{ attributes: Record<string, unknown> }>>(
          'SELECT attributes FROM user_attributes WHERE user_id = $1::uuid FOR UPDATE',
          userId,
        );
        const next = { ...row?.attributes, ...set };
        for (const key of remove) delete next[key];
        check(next);
        await tx.userAttributes.update({ where: { userId }, data: { attributes: next as object } });
        return next;
      });
    },
  };
}

export type AttributeQueries = ReturnType<typeof createAttributeQueries>;
