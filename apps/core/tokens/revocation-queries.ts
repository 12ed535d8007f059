import { sqlOf, type Database } from '../db/database.ts';

export type RevocationKind = 'jti' | 'grant' | 'subject';

export interface RevocationRow {
  kind: RevocationKind;
  value: string;
  revokedAt: Date;
  expiresAt: Date;
}

// Times come from PostgreSQL's clock, in UTC as every timestamp(3) column holds them, so that
// instances whose clocks disagree still read each other's rows in order.
const utcNow = "(now() AT TIME ZONE 'UTC')";

/** The queries behind the revocation list; plain objects in and out. */
export function createRevocationQueries(db: Database) {
  const sql = sqlOf(db);
  return {
    /** Records (or renews) revocations; `ttlSeconds` is how long what each names can live. */
    async insert(entries: Array<{ kind: RevocationKind; value: string; ttlSeconds: number }>): Promise<void> {
      if (!entries.length) return;
      await sql.execute(
        `INSERT INTO token_revocations (kind, value, revoked_at, expires_at)
         SELECT kind, value, ${utcNow}, ${utcNow} + make_interval(secs => ttl)
         FROM unnest($1::text[], $2::text[], $3::float8[]) AS e(kind, value, ttl)
         ON CONFLICT (kind, value) DO UPDATE SET revoked_at = EXCLUDED.revoked_at, expires_at = greatest(token_revocations.expires_at, EXCLUDED.expires_at)`,
        [entries.map((e) => e.kind), entries.map((e) => e.value), entries.map((e) => e.ttlSeconds)],
      );
    },

    /**
     * Rows recorded after `since` that still matter, and the database's time now. With no
     * `since`, every live row.
     */
    async since(since: Date | undefined): Promise<{ rows: RevocationRow[]; now: Date }> {
      const rows = await sql.rows<{ kind: RevocationKind | null; value: string | null; revoked_at: string | null; expires_at: string | null; now: string }>(
        `SELECT r.kind, r.value, r.revoked_at, r.expires_at, c.now
         FROM (SELECT ${utcNow} AS now) c
         LEFT JOIN token_revocations r ON r.expires_at > c.now AND ($1::timestamp(3) IS NULL OR r.revoked_at > $1::timestamp(3))`,
        [since?.toISOString() ?? null],
      );
      return {
        now: new Date(rows[0].now),
        rows: rows
          .filter((r) => r.kind !== null)
          .map((r) => ({ kind: r.kind!, value: r.value!, revokedAt: new Date(r.revoked_at!), expiresAt: new Date(r.expires_at!) })),
      };
    },

    /** Deletes rows past their expiry; returns how many. */
    sweep: () => sql.execute(`DELETE FROM token_revocations WHERE expires_at < ${utcNow}`, []),
  };
}

export type RevocationQueries = ReturnType<typeof createRevocationQueries>;
