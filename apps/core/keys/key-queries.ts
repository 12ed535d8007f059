import type { Database } from '../db/database.ts';

/** A signing key as stored: its private JWK sealed (key-encryption.ts), its public JWK in clear. */
export interface KeyRow {
  /** The JWK `kid`. */
  id: string;
  alg: string;
  publicJwk: unknown;
  encryptedPrivateJwk: string;
  createdAt: Date;
  activatesAt: Date;
  retiredAt: Date | null;
  expiresAt: Date | null;
}

export type NewKey = Pick<KeyRow, 'id' | 'alg' | 'encryptedPrivateJwk' | 'activatesAt'> & { publicJwk: Record<string, unknown> };

const data = (key: NewKey) => ({ ...key, publicJwk: key.publicJwk as object });

/** The signing_keys table; plain objects in and out. */
export function createKeyQueries(db: Database) {
  return {
    /** The keys still published at `at` (no expiry, or a later one), the latest to activate first. */
    published: (at: Date): Promise<KeyRow[]> =>
      db.signingKey.findMany({ where: { OR: [{ expiresAt: null }, { expiresAt: { gt: at } }] }, orderBy: { activatesAt: 'desc' } }),

    create: (key: NewKey): Promise<KeyRow> => db.signingKey.create({ data: data(key) }),

    /**
     * Stores `key` unless a key of its algorithm is already active at `at`. Callers racing on
     * the same algorithm (instances starting together on an empty database) take turns on an
     * advisory lock, so exactly one stores. Undefined when none was stored.
     */
    createUnlessActive(key: NewKey, at: Date): Promise<KeyRow | undefined> {
      return db.$transaction(async (tx) => {
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`gatehouse:keys:${key.alg}`}))`;
        if (await tx.signingKey.findFirst({ where: { alg: key.alg, activatesAt: { lte: at } }, select: { id: true } })) return undefined;
        return tx.signingKey.create({ data: data(key) });
      });
    },

    /** Sets the retirement and expiry of the algorithm's keys not yet retired; returns how many. */
    retire: async (alg: string, { retiredAt, expiresAt }: { retiredAt: Date; expiresAt: Date }) =>
      (await db.signingKey.updateMany({ where: { alg, retiredAt: null }, data: { retiredAt, expiresAt } })).count,

    /** Deletes the keys expired before `at`; returns how many. */
    deleteExpired: async (at: Date) => (await db.signingKey.deleteMany({ where: { expiresAt: { lt: at } } })).count,
  };
}

export type KeyQueries = ReturnType<typeof createKeyQueries>;
