import { systemClock } from '../clock.ts';
import { sqlOf, type Database } from '../db/database.ts';

/** A bucket as the instances share it: `tat` is when it is full again (GCRA), epoch milliseconds. */
export interface SharedBucket {
  key: string;
  tat: number;
}

/**
 * One statement per sync: adds what this instance spent on each key (as milliseconds of refill)
 * to the key's row, creating it; reads the keys it sends with nothing spent; and brings back every
 * live row any instance changed since `$4`. The later SELECT sees the rows as they were before the
 * INSERT, so a row may come back twice, old and new: the caller keeps the later time.
 */
const exchangeSql = `
  WITH input AS (
    SELECT key, add FROM unnest($2::text[], $3::bigint[]) AS i(key, add)
  ), written AS (
    INSERT INTO rate_limit_buckets AS b (key, tat_ms, updated_ms)
    SELECT key, $1::bigint + add, $1::bigint FROM input WHERE add > 0
    ON CONFLICT (key) DO UPDATE SET
      tat_ms = GREATEST(b.tat_ms, $1::bigint) + (EXCLUDED.tat_ms - $1::bigint),
      updated_ms = GREATEST(b.updated_ms, $1::bigint)
    RETURNING key, tat_ms
  )
  SELECT key, tat_ms FROM written
  UNION ALL
  SELECT b.key, b.tat_ms FROM rate_limit_buckets b
  WHERE b.tat_ms > $1::bigint AND (b.updated_ms > $4::bigint OR b.key IN (SELECT key FROM input WHERE add = 0))`;

/** The rate_limit_buckets table: SQL only, plain objects out (the logic is in buckets.ts). */
export function createRateLimitQueries(db: Database) {
  const sql = sqlOf(db);
  return {
    async exchange({ now, since, adds }: { now: number; since: number; adds: Array<[key: string, addMs: number]> }): Promise<SharedBucket[]> {
      const rows = await sql.rows<{ key: string; tat_ms: string | number }>(exchangeSql, [now, adds.map(([key]) => key), adds.map(([, add]) => add), since]);
      return rows.map((row) => ({ key: row.key, tat: Number(row.tat_ms) }));
    },

    /** Deletes the rows of full buckets (their time has passed): they hold nothing. */
    sweep: (now = systemClock()) => sql.execute('DELETE FROM rate_limit_buckets WHERE tat_ms <= $1::bigint', [now]),
  };
}

export type RateLimitQueries = ReturnType<typeof createRateLimitQueries>;
