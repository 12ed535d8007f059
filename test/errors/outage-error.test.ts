import { createDatabase, sqlOf, type Database } from '../../apps/core/db/database.ts';
import { DatabaseUnavailable } from '../../apps/core/errors.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';

// The database layer turns an outage into one typed error, whichever path the query took. Prisma
// Client passes an adapter's own error through only while it has no `code` (it wraps one that
// has): this fails if an upgrade starts wrapping it.

let t: TestDatabase;
const opened: Database[] = [];
const open = (url: string) => {
  const db = createDatabase({ url, poolMax: 1 });
  opened.push(db);
  return db;
};

beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  for (const db of opened) await db.$disconnect();
  await t.drop();
});

const reasonOf = async (work: Promise<unknown>) => {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  return error instanceof DatabaseUnavailable ? { unavailable: true, reason: error.reason } : { unavailable: false, error };
};

describe('a database that cannot be reached', () => {
  const unreachable = () => open('postgresql://nobody:nothing@127.0.0.1:9/none');

  it.each([
    ['a Prisma Client query', (db: Database) => db.user.findFirst()],
    ['a raw query through Prisma Client', (db: Database) => db.$queryRaw`SELECT 1`],
    ['a transaction', (db: Database) => db.$transaction(async (tx) => tx.user.findFirst())],
    ['the plain-SQL path', (db: Database) => sqlOf(db).rows('SELECT 1', [])],
  ])('fails %s with DatabaseUnavailable, saying where it could not connect', async (_path, query) => {
    expect(await reasonOf(query(unreachable()))).toEqual({ unavailable: true, reason: "Can't reach database server at 127.0.0.1:9" });
  });
});

describe('a database that goes away', () => {
  it('fails the next query with DatabaseUnavailable, and answers again once it is back', async () => {
    const direct = new URL(t.url);
    const proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port) });
    try {
      const via = new URL(t.url);
      via.port = String(proxy.port);
      const db = open(via.href);
      expect(await db.user.count()).toBe(0);
      await proxy.cut();
      expect(await reasonOf(db.user.count())).toMatchObject({ unavailable: true });
      expect(await reasonOf(sqlOf(db).rows('SELECT 1', []))).toMatchObject({ unavailable: true });
      await proxy.restore();
      expect(await db.user.count()).toBe(0);
    } finally {
      await proxy.restore().catch(() => {});
      await proxy.close();
    }
  });
});

describe('a query that fails for another reason', () => {
  it('keeps its own error (a missing table is no outage)', async () => {
    const outcome = await reasonOf(t.db.$queryRawUnsafe('SELECT * FROM no_such_table'));
    expect(outcome.unavailable).toBe(false);
    expect(outcome).toMatchObject({ error: { code: 'P2010' } });
  });
});
