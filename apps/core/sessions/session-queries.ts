import type { Database, Prisma } from '../db/database.ts';

/**
 * The only core module that knows oidc_payloads: the provider's storage of sessions, grants,
 * codes and tokens, which the payload adapter (apps/server/provider/payload-adapter.ts) reads
 * and writes for oidc-provider. Core changes to an account reach them through here.
 */
export function createSessionQueries(db: Database) {
  return {
    /**
     * Deletes every session, grant, code and token stored for the account; returns how many.
     * `tx`: run inside that transaction (the one that disables the account).
     */
    endForAccount: async (accountId: string, tx: Prisma.TransactionClient = db) => (await tx.oidcPayload.deleteMany({ where: { accountId } })).count,
  };
}

export type SessionQueries = ReturnType<typeof createSessionQueries>;
