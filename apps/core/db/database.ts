import { PrismaPg } from '@prisma/adapter-pg';
import { isDriverAdapterError, type SqlDriverAdapter, type SqlDriverAdapterFactory, type Transaction } from '@prisma/driver-adapter-utils';
import { createHash } from 'node:crypto';
import pg from 'pg';
import { DatabaseUnavailable } from '../errors.ts';
import { PrismaClient } from '../generated/prisma/client.ts';

export type Database = PrismaClient;
export { Prisma } from '../generated/prisma/client.ts';

export interface DatabaseOptions {
  url: string;
  poolMax: number;
}

/**
 * Plain SQL through Prisma's driver adapter for PostgreSQL: the layer Prisma Client runs its own
 * queries on, on the same pool, without the client's query interpreter in front. That saves
 * about 100 µs of CPU per statement, which matters for the few statements every protocol request
 * makes (server/provider/payload-adapter.ts, audit batches). Everything else goes through Prisma Client.
 * Values are what the adapter returns: `jsonb` as JSON text, timestamps as ISO strings.
 */
export interface Sql {
  rows<T extends object>(text: string, args: unknown[]): Promise<T[]>;
  execute(text: string, args: unknown[]): Promise<number>;
}

/**
 * DataLoader options for statements merged across concurrent requests: what the requests of one
 * event-loop turn ask for goes to PostgreSQL as one statement on the next turn. No cache: each
 * caller is answered from its own read, never from an earlier request's.
 */
export const mergedPerTurn = { cache: false, maxBatchSize: 500, batchScheduleFn: (run: () => void) => setImmediate(run) } as const;

const pools = new WeakMap<Database, pg.Pool>();
const sqls = new WeakMap<Database, Sql>();

/** The connection pool behind a database client, for pool-use metrics. */
export const databasePool = (db: Database): pg.Pool | undefined => pools.get(db);

/**
 * JSON for a jsonb column. jsonb cannot hold NUL, so a document with one (in a string or a key,
 * as a caller may send) would fail its whole statement; there NUL becomes U+FFFD. Documents
 * without one, nearly all, are stringified once.
 */
export function jsonbText(value: unknown): string {
  const text = JSON.stringify(value);
  // NUL is written \u0000; a backslash followed by u0000 also matches, and only costs the slow path.
  if (!text.includes('\\u0000')) return text;
  return JSON.stringify(value, (_key, item: unknown) => {
    if (typeof item === 'string') return item.replaceAll('\u0000', '\ufffd');
    if (item && typeof item === 'object' && !Array.isArray(item) && Object.keys(item).some((key) => key.includes('\u0000')))
      return Object.fromEntries(Object.entries(item).map(([key, inner]) => [key.replaceAll('\u0000', '\ufffd'), inner]));
    return item;
  });
}

/** The plain-SQL path of a database client made by createDatabase. */
export function sqlOf(db: Database): Sql {
  const sql = sqls.get(db);
  if (!sql) throw new Error('not a database made by createDatabase');
  return sql;
}

function createSql(factory: SqlDriverAdapterFactory): Sql {
  let driver: Promise<SqlDriverAdapter> | undefined;
  const query = (text: string, args: unknown[]) => ({
    sql: text,
    args,
    argTypes: args.map((arg) => ({ scalarType: 'unknown', arity: Array.isArray(arg) ? 'list' : 'scalar' }) as const),
  });
  return {
    async rows<T extends object>(text: string, args: unknown[]) {
      const { columnNames, rows } = await (await (driver ??= factory.connect())).queryRaw(query(text, args));
      return rows.map((row) => Object.fromEntries(columnNames.map((name, i) => [name, row[i]])) as T);
    },
    async execute(text: string, args: unknown[]) {
      return (await (driver ??= factory.connect())).executeRaw(query(text, args));
    },
  };
}

export function createDatabase({ url, poolMax }: DatabaseOptions): Database {
  const pool = new pg.Pool({
    connectionString: withGenericPlans(url),
    max: poolMax,
    // Fail fast when the server is gone, so requests answer 503 instead of hanging.
    connectionTimeoutMillis: 3000,
    idleTimeoutMillis: 30_000,
  });
  const statementNameGenerator = namePreparedStatement();
  const db = new PrismaClient({ adapter: reportingOutages(new PrismaPg(pool, { disposeExternalPool: true, statementNameGenerator })) });
  pools.set(db, pool);
  // Not disposing: Prisma Client's own adapter ends the pool on $disconnect.
  sqls.set(db, createSql(reportingOutages(new PrismaPg(pool, { statementNameGenerator }))));
  return db;
}

/** An outage in words, as Prisma Client puts the driver adapter's "not reachable" (P1001). */
function outageReason(error: unknown): string {
  if (isDriverAdapterError(error) && error.cause.kind === 'DatabaseNotReachable') {
    const { host, port } = error.cause;
    return `Can't reach database server${host ? ` at ${host}${port ? `:${port}` : ''}` : ''}`;
  }
  return error instanceof Error ? error.message : String(error);
}

const asOutage = (error: unknown) =>
  isDatabaseUnavailable(error) && !(error instanceof DatabaseUnavailable) ? new DatabaseUnavailable({ cause: error, reason: outageReason(error) }) : error;

async function guard<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw asOutage(error);
  }
}

/**
 * The driver adapter both paths (Prisma Client and sqlOf) query through, failing with
 * DatabaseUnavailable wherever the database cannot be reached. Prisma Client translates only the
 * adapter's own DriverAdapterError and passes any other error through as it is (checked by
 * test/errors/outage-error.test.ts), so its callers see the typed error too.
 */
function reportingOutages(factory: SqlDriverAdapterFactory): SqlDriverAdapterFactory {
  const transaction = (tx: Transaction): Transaction => {
    const { createSavepoint, rollbackToSavepoint, releaseSavepoint } = tx;
    return {
      provider: tx.provider,
      adapterName: tx.adapterName,
      options: tx.options,
      queryRaw: (query) => guard(() => tx.queryRaw(query)),
      executeRaw: (query) => guard(() => tx.executeRaw(query)),
      commit: () => guard(() => tx.commit()),
      rollback: () => guard(() => tx.rollback()),
      ...(createSavepoint && { createSavepoint: (name: string) => guard(() => createSavepoint.call(tx, name)) }),
      ...(rollbackToSavepoint && { rollbackToSavepoint: (name: string) => guard(() => rollbackToSavepoint.call(tx, name)) }),
      ...(releaseSavepoint && { releaseSavepoint: (name: string) => guard(() => releaseSavepoint.call(tx, name)) }),
    };
  };
  const adapter = (driver: SqlDriverAdapter): SqlDriverAdapter => {
    const { getConnectionInfo } = driver;
    return {
      provider: driver.provider,
      adapterName: driver.adapterName,
      queryRaw: (query) => guard(() => driver.queryRaw(query)),
      executeRaw: (query) => guard(() => driver.executeRaw(query)),
      executeScript: (script) => guard(() => driver.executeScript(script)),
      startTransaction: async (isolationLevel) => transaction(await guard(() => driver.startTransaction(isolationLevel))),
      ...(getConnectionInfo && { getConnectionInfo: () => getConnectionInfo.call(driver) }),
      dispose: () => driver.dispose(),
    };
  };
  return {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: async () => adapter(await guard(() => factory.connect())),
  };
}

/**
 * The URL with `plan_cache_mode=force_generic_plan` added to its `options` (PostgreSQL's startup
 * options; any already there are kept): each connection plans a prepared statement once. Left
 * to choose, PostgreSQL weighs the generic plan's estimate against the custom plans' on every
 * connection, and for the statements merged across requests (`= ANY($1)` over arrays whose
 * length it cannot know) a connection could settle on planning every execution anew: about 0.7 ms
 * more of PostgreSQL's CPU per login in side-by-side runs, depending on the connection's luck.
 * Every statement here is a lookup by key or a write through an index, which one plan serves.
 */
function withGenericPlans(url: string): string {
  const queryAt = url.indexOf('?');
  const params = new URLSearchParams(queryAt === -1 ? '' : url.slice(queryAt + 1));
  params.set('options', [params.get('options'), '-c plan_cache_mode=force_generic_plan'].filter(Boolean).join(' '));
  return `${queryAt === -1 ? url : url.slice(0, queryAt)}?${params}`;
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

// What the driver adapter (DriverAdapterError) calls the same failures, before Prisma Client turns them into P1001, P1017, ...
const unavailableKinds = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout']);

/** Whether an error means the database cannot be reached right now (as opposed to a bad query). */
/** A write's result, or undefined when a unique constraint refused it (Prisma's P2002: the name or id is taken). */
export async function unlessTaken<T>(write: PromiseLike<T>): Promise<T | undefined> {
  try {
    return await write;
  } catch (error) {
    if ((error as { code?: string }).code === 'P2002') return undefined;
    throw error;
  }
}

export function isDatabaseUnavailable(error: unknown): boolean {
  if (error instanceof DatabaseUnavailable) return true;
  if (error && isDriverAdapterError(error) && unavailableKinds.has(error.cause.kind)) return true;
  for (
    let e = error as { code?: unknown; originalCode?: unknown; cause?: unknown; message?: unknown } | undefined, depth = 0;
    e && depth < 5;
    e = e.cause as typeof e, depth++
  ) {
    if (typeof e.code === 'string' && unavailableCodes.has(e.code)) return true;
    // The driver adapter's DriverAdapterError keeps PostgreSQL's code (57P01: the server shut down) here.
    if (typeof e.originalCode === 'string' && unavailableCodes.has(e.originalCode)) return true;
    if (
      typeof e.message === 'string' &&
      /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect|Can't reach database server|DatabaseNotReachable/i.test(e.message)
    )
      return true;
  }
  return false;
}
