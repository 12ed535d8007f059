import { chmod, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../apps/core/db/embedded-postgres.ts';
import { migrate } from '../../apps/core/db/runtime.ts';
import { TEMPLATE_DATABASE } from './database.ts';
import { freePort } from './ports.ts';

/** A throwaway embedded PostgreSQL for this run, on a port that was free a moment before. */
async function startTestPostgres(): Promise<EmbeddedDatabase & { dataDir: string }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-test-pg-'));
  // As root, PostgreSQL runs as the 'postgres' user: open to it, the cluster stays in this
  // temporary folder instead of moving to one of its own (embedded-postgres.ts).
  await chmod(dataDir, 0o755);
  const start = async () => ({
    ...(await startEmbeddedPostgres({
      dataDir,
      port: await freePort(),
      password: 'test-only',
      database: 'postgres',
      persistent: false,
      postgresFlags: ['-c', 'max_connections=300', '-c', 'fsync=off', '-c', 'synchronous_commit=off'],
    })),
    dataDir,
  });
  try {
    return await start();
  } catch (error) {
    // Another process may take the port between the probe and PostgreSQL's bind: one more try,
    // on a new port, and the first failure is said rather than hidden.
    process.stderr.write(`test PostgreSQL: ${(error as Error).message}; trying another port\n`);
    return start();
  }
}

/**
 * One real PostgreSQL for the whole run: DATABASE_URL when it is set, otherwise an embedded
 * server in a temporary directory. The schema is migrated once into a template database, and
 * every test file clones it (see database.ts), so files never see each other's rows.
 */
export default async function globalSetup() {
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    const embedded = await startTestPostgres();
    (globalThis as Record<string, unknown>).__gatehousePg = embedded;
    adminUrl = embedded.url;
  }
  process.env.GATEHOUSE_TEST_ADMIN_URL = adminUrl;

  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DATABASE} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
  } finally {
    await client.end();
  }
  const templateUrl = new URL(adminUrl);
  templateUrl.pathname = `/${TEMPLATE_DATABASE}`;
  await migrate(templateUrl.href);
}
