import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { projectRoot } from '../../apps/core/db/runtime.ts';
import { freePort } from '../support/ports.ts';

export const NGINX = process.env.NGINX_PATH ?? '/usr/sbin/nginx';
const deployDir = resolve(projectRoot, 'deploy/nginx');

export interface RunningNginx {
  port: number;
  /** The error log so far (for a failing test's message). */
  errors(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Debian's nginx running deploy/nginx as it is, but for the addresses: the deploy files are
 * copied into a temporary prefix with their upstreams pointed at the test's servers and their
 * `listen 80` at a free loopback port. A child of the test, in the foreground (`daemon off`),
 * with its pid file, logs and temporary files under that prefix.
 */
export async function startNginx({ gatehouse, orders, dashboard }: { gatehouse: number; orders: number; dashboard: number }): Promise<RunningNginx> {
  const prefix = await mkdtemp(join(tmpdir(), 'gatehouse-nginx-'));
  // Workers drop to an unprivileged user when nginx starts as root: they read and write here too.
  await chmod(prefix, 0o755);
  for (const dir of ['conf', 'logs', 'temp']) await mkdir(join(prefix, dir), { mode: 0o777 });
  for (const file of ['gatehouse-auth.conf', 'gatehouse-location.conf']) await copyFile(join(deployDir, file), join(prefix, 'conf', file));
  const port = await freePort();
  const edge = (await readFile(join(deployDir, 'gatehouse-edge.conf'), 'utf8'))
    .replaceAll('/etc/nginx/gatehouse/', `${prefix}/conf/`)
    .replace('server 127.0.0.1:3000;', `server 127.0.0.1:${gatehouse};`)
    .replace('server 127.0.0.1:4000;', `server 127.0.0.1:${orders};`)
    .replace('server 127.0.0.1:5000;', `server 127.0.0.1:${dashboard};`)
    .replaceAll('listen 80;', `listen 127.0.0.1:${port};`);
  await writeFile(join(prefix, 'conf', 'gatehouse-edge.conf'), edge);
  const temp = (name: string) => `${prefix}/temp/${name}`;
  await writeFile(
    join(prefix, 'conf', 'nginx.conf'),
    `daemon off;
worker_processes 1;
pid ${prefix}/logs/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 512; }
http {
    access_log off;
    client_body_temp_path ${temp('body')};
    proxy_temp_path ${temp('proxy')};
    fastcgi_temp_path ${temp('fastcgi')};
    uwsgi_temp_path ${temp('uwsgi')};
    scgi_temp_path ${temp('scgi')};
    include ${prefix}/conf/gatehouse-edge.conf;
}
`,
  );
  const child: ChildProcess = spawn(NGINX, ['-p', `${prefix}/`, '-c', `${prefix}/conf/nginx.conf`, '-e', `${prefix}/logs/error.log`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const errors = () => readFile(join(prefix, 'logs', 'error.log'), 'utf8').catch(() => '');
  const deadline = Date.now() + 10_000;
  while (!(await listening(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nginx did not start: ${stderr} ${await errors()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    errors,
    async stop() {
      // SIGQUIT: a graceful stop of the master and its workers.
      if (child.exitCode === null) child.kill('SIGQUIT');
      const force = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(force);
      await rm(prefix, { recursive: true, force: true });
    },
  };
}

const listening = (port: number) =>
  new Promise<boolean>((done) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => socket.end(() => done(true)));
    socket.once('error', () => done(false));
  });

/** An upstream that answers every request with the headers it received, as JSON. */
export async function startEchoUpstream(): Promise<{ port: number; server: Server; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers satisfies IncomingHttpHeaders });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    port: (server.address() as AddressInfo).port,
    server,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}
