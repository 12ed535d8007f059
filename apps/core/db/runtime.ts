import { resolve } from 'node:path';
import type { Config, Secrets } from '../config/config.ts';
import { createDatabase, type Database } from './database.ts';
import { loadDevelopmentSecrets } from '../config/dev-secrets.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './embedded-postgres.ts';
import { createMigrator } from './migrations.ts';

export interface Runtime {
  db: Database;
  secrets: Secrets;
  databaseUrl: string;
  /** Set when the database is this checkout's embedded PostgreSQL. */
  embedded?: EmbeddedDatabase;
  generatedSecrets: boolean;
  close(): Promise<void>;
}

export const projectRoot = resolve(import.meta.dirname, '../../..');

/**
 * What the server and the CLI both need before they can work: the secrets, a database (the
 * configured one, or the checkout's embedded PostgreSQL), and the schema migrated.
 */
export async function openRuntime(config: Config, options: { migrate?: boolean } = {}): Promise<Runtime> {
  const dev = await loadDevelopmentSecrets(config);
  const embedded = config.databaseUrl
    ? undefined
    : await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPgPort, password: dev.embeddedDatabasePassword! });
  const databaseUrl = config.databaseUrl ?? embedded!.url;
  try {
    if (options.migrate !== false) await migrate(databaseUrl);
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
  const db = createDatabase({ url: databaseUrl, poolMax: config.dbPoolMax });
  return {
    db,
    databaseUrl,
    embedded,
    generatedSecrets: dev.generated,
    secrets: { keyEncryptionKey: dev.keyEncryptionKey, cookieKeys: dev.cookieKeys, clientSecretPepper: dev.clientSecretPepper },
    async close() {
      await db.$disconnect();
      await embedded?.stop();
    },
  };
}

export async function migrate(databaseUrl: string): Promise<string[]> {
  const migrator = createMigrator({
    databaseUrl,
    migrationsDir: resolve(projectRoot, 'prisma/migrations'),
    schemaPath: resolve(projectRoot, 'prisma/schema.prisma'),
  });
  return (await migrator.apply()).applied;
}
