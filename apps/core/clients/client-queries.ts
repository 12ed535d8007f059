import { unlessTaken, type Database } from '../db/database.ts';

/** A client as stored, with the secrets live at the time it was read, newest first. */
export interface ClientRow {
  id: string;
  name: string;
  firstParty: boolean;
  /** `500/s` (rate-limits/rate.ts); null: the server's default. */
  rateLimit: string | null;
  rateLimitBurst: number | null;
  metadata: Record<string, unknown>;
  createdAt: Date;
  secrets: Array<{ hash: string; expiresAt: Date | null }>;
}

export interface NewClient {
  id: string;
  name: string;
  metadata: Record<string, unknown>;
  firstParty: boolean;
  /** The hash of its first secret; none for a client that authenticates without one. */
  secretHash?: string;
}

/** A client's own quota: each field given replaces the stored one, `null` clears it. */
export interface ClientChanges {
  rateLimit?: string | null;
  rateLimitBurst?: number | null;
}

const live = (at: Date) => ({ OR: [{ expiresAt: null }, { expiresAt: { gt: at } }] });
const liveSecrets = (at: Date) => ({ secrets: { where: live(at), orderBy: { createdAt: 'desc' }, select: { hash: true, expiresAt: true } } }) as const;
const clientColumns = { id: true, name: true, firstParty: true, rateLimit: true, rateLimitBurst: true, metadata: true, createdAt: true } as const;

type Selected = Omit<ClientRow, 'metadata'> & { metadata: unknown };
const toRow = (row: Selected): ClientRow => ({ ...row, metadata: row.metadata as Record<string, unknown> });

/** The clients table and its secrets; plain objects in and out. */
export function createClientQueries(db: Database) {
  return {
    /** Stores the client (and its first secret); false when a client already has that id. */
    async create({ secretHash, ...client }: NewClient): Promise<boolean> {
      const data = { ...client, metadata: client.metadata as object, ...(secretHash && { secrets: { create: { hash: secretHash } } }) };
      return (await unlessTaken(db.client.create({ data, select: { id: true } }))) !== undefined;
    },

    /** The client with the secrets live at `at`. */
    async find(clientId: string, at: Date): Promise<ClientRow | undefined> {
      const row = await db.client.findUnique({ where: { id: clientId }, select: { ...clientColumns, ...liveSecrets(at) } });
      return row ? toRow(row) : undefined;
    },

    /** Every client, oldest first, each with the secrets live at `at`. */
    async list(at: Date): Promise<ClientRow[]> {
      return (await db.client.findMany({ orderBy: { createdAt: 'asc' }, select: { ...clientColumns, ...liveSecrets(at) } })).map(toRow);
    },

    exists: async (clientId: string) => (await db.client.count({ where: { id: clientId } })) > 0,

    /** The client's registered metadata; undefined when there is no such client. */
    async metadata(clientId: string): Promise<Record<string, unknown> | undefined> {
      const row = await db.client.findUnique({ where: { id: clientId }, select: { metadata: true } });
      return row ? (row.metadata as Record<string, unknown>) : undefined;
    },

    /** Applies `changes`; the client as it is then (secrets live at `at`), or undefined when there is no such client. */
    async update(clientId: string, changes: ClientChanges, at: Date): Promise<ClientRow | undefined> {
      try {
        return toRow(await db.client.update({ where: { id: clientId }, data: changes, select: { ...clientColumns, ...liveSecrets(at) } }));
      } catch (error) {
        if ((error as { code?: string }).code === 'P2025') return undefined;
        throw error;
      }
    },

    /**
     * Adds a secret, in one transaction with the end of the others: the newest secret live at
     * `at` stays, expiring at `previousUntil` at the latest; every other one is deleted. Answers
     * whether a live secret was kept.
     */
    async replaceSecret(clientId: string, hash: string, { at, previousUntil }: { at: Date; previousUntil: Date }): Promise<{ keptPrevious: boolean }> {
      const [newest] = await db.clientSecret.findMany({ where: { clientId, ...live(at) }, orderBy: { createdAt: 'desc' }, take: 1 });
      await db.$transaction([
        db.clientSecret.deleteMany({ where: { clientId, id: { notIn: newest ? [newest.id] : [] } } }),
        ...(newest
          ? [
              db.clientSecret.update({
                where: { id: newest.id },
                data: { expiresAt: newest.expiresAt && newest.expiresAt < previousUntil ? newest.expiresAt : previousUntil },
              }),
            ]
          : []),
        db.clientSecret.create({ data: { clientId, hash } }),
      ]);
      return { keptPrevious: !!newest };
    },
  };
}

export type ClientQueries = ReturnType<typeof createClientQueries>;
