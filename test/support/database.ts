import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDatabase, databasePool, type Database } from '../../apps/core/db/database.ts';

export const TEMPLATE_DATABASE = 'gatehouse_test_template';

export interface TestDatabase {
  url: string;
  db: Database;
  drop(): Promise<void>;
}

const adminQuery = async (sql: string) => {
  const client = new pg.Client({ connectionString: process.env.GATEHOUSE_TEST_ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
};

/** A fresh, migrated database of its own for one test file (a clone of the template). */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `gatehouse_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DATABASE}`);
  const url = new URL(process.env.GATEHOUSE_TEST_ADMIN_URL!);
  url.pathname = `/${name}`;
  const db = createDatabase({ url: url.href, poolMax: 10 });
  return {
    url: url.href,
    db,
    async drop() {
      await db.$disconnect();
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** How many times the pool hands out a connection (one per statement) while `work` runs. */
export async function statementsDuring(db: Database, work: () => Promise<unknown>): Promise<number> {
  const pool = databasePool(db)!;
  let acquired = 0;
  const count = () => acquired++;
  pool.on('acquire', count);
  try {
    await work();
  } finally {
    pool.off('acquire', count);
  }
  return acquired;
}
