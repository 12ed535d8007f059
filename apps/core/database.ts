import { PrismaPg } from '@prisma/adapter-pg';
import { createHash } from 'node:crypto';
import pg from 'pg';
import { PrismaClient } from './generated/prisma/client.ts';

export type Database = PrismaClient;
export { Prisma } from './generated/prisma/client.ts';

export interface DatabaseOptions {
  url: string;
  poolMax: number;
}

const pools = new WeakMap<Database, pg.Pool>();

/** The connection pool behind a database client, for pool-use metrics. */
export const databasePool = (db: Database): pg.Pool | undefined => pools.get(db);

export function createDatabase({ url, poolMax }: DatabaseOptions): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolMax,
    // Fail fast when the server is gone, so requests answer 503 instead of hanging.
    connectionTimeoutMillis: 3000,
    idleTimeoutMillis: 30_000,
  });
  const db = new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true, statementNameGenerator: namePreparedStatement() }) });
  pools.set(db, pool);
  return db;
}

/**
 * Named prepared statements: PostgreSQL parses and plans each query text once per connection
 * instead of on every call (about half its CPU for our hot reads and upserts). pg keeps a named
 * statement for the connection's life, so past a bound new texts go unnamed.
 */
function namePreparedStatement(limit = 500) {
  const names = new Map<string, string>();
  return ({ sql }: { sql: string }): string => {
    let name = names.get(sql);
    if (!name && names.size < limit) names.set(sql, (name = `gh_${createHash('sha256').update(sql).digest('base64url').slice(0, 22)}`));
    // adapter-pg passes it to pg as `name`, where undefined means an unnamed statement.
    return name as string;
  };
}

/** True when the database answers a trivial query. */
export async function isDatabaseReachable(db: Database): Promise<boolean> {
  try {
    await db.$queryRaw`SELECT 1`;
    return true;
  } catch {
    return false;
  }
}

const unavailableCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', '57P01', '57P03', 'P1001', 'P1002', 'P1017', 'P2024']);

/** Whether an error means the database cannot be reached right now (as opposed to a bad query). */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let e = error as { code?: unknown; cause?: unknown; message?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && unavailableCodes.has(e.code)) return true;
    if (typeof e.message === 'string' && /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect|Can't reach database server|DatabaseNotReachable/i.test(e.message)) return true;
  }
  return false;
}
