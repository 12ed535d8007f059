import { jsonbText, sqlOf, type Database } from '../db/database.ts';

/** An audit event as stored: `type` is one of audit-log.ts's AuditEventType. */
export interface AuditRow {
  at: Date;
  type: string;
  actor?: string;
  userId?: string;
  clientId?: string;
  ip?: string;
  userAgent?: string;
  details?: Record<string, unknown>;
}

export interface StoredAuditRow extends AuditRow {
  id: string;
}

/** The audit_events table; plain objects in and out. */
export function createAuditQueries(db: Database) {
  const sql = sqlOf(db);
  return {
    /**
     * One INSERT for the whole batch, its columns passed as arrays: token issuance records an
     * event per token, and a statement whose shape does not depend on the batch size keeps that
     * cheap (createMany compiles a new query for every row count).
     */
    async insert(rows: AuditRow[]): Promise<void> {
      const column = <T>(pick: (row: AuditRow) => T) => rows.map(pick);
      await sql.execute(
        `INSERT INTO audit_events (at, type, actor, user_id, client_id, ip, user_agent, details)
         SELECT * FROM unnest($1::timestamp(3)[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]::jsonb[])`,
        [
          column((r) => r.at.toISOString()),
          column((r) => r.type),
          column((r) => r.actor ?? null),
          column((r) => r.userId ?? null),
          column((r) => r.clientId ?? null),
          column((r) => r.ip ?? null),
          column((r) => r.userAgent?.slice(0, 512) ?? null),
          column((r) => (r.details ? jsonbText(r.details) : null)),
        ],
      );
    },

    /** The latest `limit` events, oldest first (ties in time by insertion order), optionally only one user's or client's. */
    async latest({ userId, clientId, limit }: { userId?: string; clientId?: string; limit: number }): Promise<StoredAuditRow[]> {
      const rows = await db.auditEvent.findMany({
        where: { ...(userId && { userId }), ...(clientId && { clientId }) },
        orderBy: [{ at: 'desc' }, { id: 'desc' }],
        take: limit,
      });
      return rows.reverse().map((r) => ({
        id: String(r.id),
        at: r.at,
        type: r.type,
        actor: r.actor ?? undefined,
        userId: r.userId ?? undefined,
        clientId: r.clientId ?? undefined,
        ip: r.ip ?? undefined,
        userAgent: r.userAgent ?? undefined,
        details: (r.details as Record<string, unknown> | null) ?? undefined,
      }));
    },

    /** Deletes the events recorded before `cutoff`; returns how many. */
    deleteBefore: async (cutoff: Date) => (await db.auditEvent.deleteMany({ where: { at: { lt: cutoff } } })).count,
  };
}

export type AuditQueries = ReturnType<typeof createAuditQueries>;
