// Applies and checks the SQL migrations in prisma/migrations. The folder keeps Prisma's standard
// layout and the `_prisma_migrations` bookkeeping of `prisma migrate deploy`, so the native CLI
// stays usable wherever it can run; here the work is done by Prisma's wasm schema engine.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { MigrationDirectory, MigrationList, SchemaEngine, SchemaFilter } from '@prisma/schema-engine-wasm';
import { withSchemaEngine } from './schema-engine.ts';

export interface MigratorOptions {
  /** PostgreSQL connection string of the database to migrate. */
  databaseUrl: string;
  /** Folder in Prisma's layout: `<timestamp>_<name>/migration.sql` plus `migration_lock.toml`. */
  migrationsDir: string;
  /** The Prisma schema that `diff()` compares the migrations with. */
  schemaPath: string;
  log?: (message: string) => void;
}

export interface Migrator {
  /** Applies pending migrations; returns the names of those applied by this call. */
  apply(): Promise<{ applied: string[] }>;
  /**
   * SQL that takes a database built from the migrations to the schema, or '' when they agree.
   * Replays the migrations in a temporary database on the same server (needs CREATEDB).
   */
  diff(): Promise<string>;
}

const NO_FILTERS: SchemaFilter = { externalTables: [], externalEnums: [] };

// Not Prisma's own key (72707369): the engine takes that one itself, on a pooled connection we
// do not control, and would time out waiting for us if we held it.
const APPLY_LOCK_KEY = 4_711_042_001;

export function createMigrator({ databaseUrl, migrationsDir, schemaPath, log }: MigratorOptions): Migrator {
  // The engine logs JSON lines (with whole migration scripts in them); keep the message.
  const engineLog = (line: string) => {
    if (!log) return;
    try {
      const { level, fields } = JSON.parse(line) as { level: string; fields: { message: string } };
      log(level === 'INFO' ? fields.message : `${level.toLowerCase()}: ${fields.message}`);
    } catch {
      log(line);
    }
  };
  const withEngine = <T>(fn: (engine: SchemaEngine) => Promise<T>) => withSchemaEngine(databaseUrl, engineLog, fn);

  return {
    async apply() {
      try {
        const migrationsList = await readMigrations(migrationsDir);
        // Every start applies migrations; nearly always there are none to apply, and asking
        // `_prisma_migrations` spares loading the schema engine (megabytes of WebAssembly that
        // would stay in the server's memory). Anything pending or failed goes to the engine.
        if ((await pendingMigrations(databaseUrl, migrationsList)).length === 0) return { applied: [] };
        // The engine's own advisory lock sits on a pooled connection that pg may close when idle,
        // so a session of our own serializes concurrent deploys for the whole run.
        const lock = new pg.Client({ connectionString: databaseUrl });
        // A lost connection surfaces through the engine's own failure; unheard, it would crash the process.
        lock.on('error', () => {});
        await lock.connect();
        try {
          await lock.query('SELECT pg_advisory_lock($1)', [APPLY_LOCK_KEY]);
          const { appliedMigrationNames } = await withEngine((engine) => engine.applyMigrations({ migrationsList, filters: NO_FILTERS }));
          return { applied: appliedMigrationNames };
        } finally {
          await lock.end(); // ending the session releases the lock
        }
      } catch (error) {
        throw oneLineError(`Applying migrations from ${migrationsDir} failed`, error);
      }
    },

    async diff() {
      try {
        const [migrationsList, content] = await Promise.all([readMigrations(migrationsDir), readFile(schemaPath, 'utf8')]);
        const { exitCode, stdout } = await withEngine((engine) =>
          engine.diff({
            from: { tag: 'migrations', ...migrationsList },
            to: { tag: 'schemaDatamodel', files: [{ path: schemaPath, content }] },
            script: true,
            exitCode: true, // 0 means no difference; the script would be a comment
            filters: NO_FILTERS,
          }),
        );
        return exitCode === 0 ? '' : (stdout ?? '');
      } catch (error) {
        throw oneLineError(`Comparing ${migrationsDir} with ${schemaPath} failed`, error);
      }
    },
  };
}

/** Migrations of the folder that `_prisma_migrations` does not record as applied (all of them before the first). */
async function pendingMigrations(databaseUrl: string, migrationsList: MigrationList): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  client.on('error', () => {});
  await client.connect();
  try {
    const { rows } = await client
      .query<{ migration_name: string }>(`SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`)
      .catch((error: { code?: string }) => {
        if (error.code === '42P01') return { rows: [] }; // undefined_table: a new database
        throw error;
      });
    const applied = new Set(rows.map((row) => row.migration_name));
    return migrationsList.migrationDirectories.map((dir) => dir.path).filter((name) => !applied.has(name));
  } finally {
    await client.end();
  }
}

/** Reads the folder the way Prisma's CLI does before handing it to the engine. */
async function readMigrations(migrationsDir: string): Promise<MigrationList> {
  const baseDir = path.resolve(migrationsDir);
  const lockfilePath = 'migration_lock.toml';
  const lockfileContent = await readFile(path.join(baseDir, lockfilePath), 'utf8').catch(() => null);
  const entries = await readdir(baseDir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  const migrationDirectories: MigrationDirectory[] = [];
  for (const entry of entries.filter((e) => e.isDirectory())) {
    const file = 'migration.sql';
    const content = await readFile(path.join(baseDir, entry.name, file), 'utf8').then(
      (value) => ({ tag: 'ok' as const, value }),
      (error: Error) => ({ tag: 'error' as const, value: error.message }),
    );
    migrationDirectories.push({ path: entry.name, migrationFile: { path: file, content } });
  }
  migrationDirectories.sort((a, b) => a.path.localeCompare(b.path));
  return {
    baseDir,
    lockfile: { path: lockfilePath, content: lockfileContent },
    shadowDbInitScript: '',
    migrationDirectories,
  };
}

/** Engine errors span many lines and end in a Rust span trace; keep the message, on one line. */
function oneLineError(context: string, error: unknown): Error {
  const { message = String(error), code } = error as { message?: string; code?: string };
  const summary = message
    .split(/\n\s+0: /)[0]!
    .replace(/\s+/g, ' ')
    .trim();
  const prismaCode = code && /^P\d{4}$/.test(code) ? `${code} ` : ''; // Node's codes are in the message already
  return new Error(`${context}: ${prismaCode}${summary}`, { cause: error });
}
