// `npm run bench:edge`: edge authorization decisions per second (issue "Edge authorization").
//
//   1. /edge/v1/auth-request asked directly, as nginx's auth_request asks, with 1,000 distinct
//      JWT access tokens in rotation (wrk, one connection pool, keep-alive);
//   2. the same load through nginx (deploy/nginx's auth snippets) in front of a static upstream;
//   3. the reference: the same nginx with auth_request pointed at a static 200 (another nginx
//      server block), in front of the same static upstream.
// Each row reports req/s, p50/p99, and Gatehouse's CPU per decision (user + system, from /proc).
// Goals: at least 15,000 decisions/s direct; through nginx at least half the reference.
//
// Environment: BENCH_DURATION (seconds per case, default 10), BENCH_PORT (first of five loopback
// ports, default 25450), BENCH_CPU_PROF (a folder: Gatehouse runs with --cpu-prof into it, to see
// where a decision's time goes). Needs wrk and nginx (apt). Writes bench/results/<stamp>-edge.md and .json.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../apps/core/config/config.ts';
import { openRuntime } from '../apps/core/db/runtime.ts';
import { createServices } from '../apps/core/services.ts';
import { basicAuth, cpuMsPer, form, startProcess, type ServerProcess } from './harness.ts';
import { gatehouseEnv, root, startCommand } from './server-env.ts';

const API = 'https://bench-edge.example.test';
const HOST = 'orders.bench.test';
const TOKENS = 1000;
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = 50;
const goals = { direct: 15_000, nginxVsReference: 0.5 };

const PG_PORT = Number(process.env.BENCH_PORT ?? 25450);
const GATEHOUSE_PORT = PG_PORT + 1;
const NGINX_PORT = PG_PORT + 2;
const REFERENCE_PORT = PG_PORT + 3;
const STATIC_PORT = PG_PORT + 4;

interface Row {
  name: string;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
  /** Gatehouse's CPU per request, ms (empty for the reference, which never asks it). */
  gatehouseCpuMs?: number;
  goal?: string;
}

for (const [tool, args] of [
  ['wrk', ['--version']],
  ['/usr/sbin/nginx', ['-v']],
] as const) {
  if (spawnSync(tool, [...args]).error) throw new Error(`bench:edge needs ${tool} (apt-get install wrk nginx)`);
}

const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-edge-'));
chmodSync(dataDir, 0o755);
const config = loadConfig({ DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(PG_PORT) });
const runtime = await openRuntime(config);
const services = createServices({ config, secrets: runtime.secrets, db: runtime.db });
const { env: startEnv, nodeArgs, entry } = startCommand();

await services.apis.create({ identifier: API, scopes: ['orders:read'] });
await services.routes.add({ host: HOST, path: '/orders/*', methods: ['GET'], api: API, scopes: ['orders:read'] });

let gatehouse: ServerProcess | undefined;
let nginx: ChildProcess | undefined;
const rows: Row[] = [];
try {
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  gatehouse = await startProcess(
    entry,
    gatehouseEnv(runtime, dataDir, { port: GATEHOUSE_PORT, rateLimit: true, workers: 1 }),
    `http://127.0.0.1:${GATEHOUSE_PORT}`,
    '/readyz',
    [...nodeArgs, ...profile],
  );
  const tokens = await mintTokens(gatehouse.url);
  nginx = await startNginx();

  const decision = { 'X-Original-Method': 'GET', 'X-Original-URI': '/orders/17?expand=lines', 'X-Original-Host': HOST, 'X-Original-Proto': 'https' };
  rows.push(await measure('auth-request direct, 1,000 JWTs in rotation', `${gatehouse.url}/edge/v1/auth-request`, decision, tokens, `≥ ${goals.direct}/s`));
  rows.push(
    await measure(
      'through nginx (auth_request to Gatehouse), static upstream',
      `http://127.0.0.1:${NGINX_PORT}/orders/17?expand=lines`,
      { Host: HOST },
      tokens,
    ),
  );
  rows.push(
    await measure(
      'reference: nginx, auth_request to a static 200, static upstream',
      `http://127.0.0.1:${REFERENCE_PORT}/orders/17?expand=lines`,
      { Host: HOST },
      tokens,
    ),
  );
} finally {
  if (nginx && nginx.exitCode === null) {
    const exited = new Promise((r) => nginx!.once('exit', r));
    nginx.kill('SIGQUIT');
    await exited;
  }
  await gatehouse?.stop();
  await runtime.close();
  rmSync(dataDir, { recursive: true, force: true });
}

const [direct, through, reference] = rows;
const ratio = +(through.requestsPerSecond / reference.requestsPerSecond).toFixed(2);
through.goal = `≥ ${goals.nginxVsReference} × reference (${ratio})`;
report();

/** 1,000 client_credentials JWTs, from 10 clients (100 each, within the per-client budget). */
async function mintTokens(url: string): Promise<string[]> {
  const tokens: string[] = [];
  for (let c = 0; c < 10; c++) {
    const { clientId, clientSecret } = await services.clients.create({ name: `edge bench ${c}`, grantTypes: ['client_credentials'] });
    await services.apis.grantClient({ clientId, identifier: API });
    for (let i = 0; i < TOKENS / 10; i++) {
      const response = await fetch(`${url}/token`, {
        method: 'POST',
        headers: { authorization: basicAuth(clientId, clientSecret!), 'content-type': 'application/x-www-form-urlencoded' },
        body: form({ grant_type: 'client_credentials', resource: API, scope: 'orders:read' }),
      });
      if (!response.ok) throw new Error(`token request: ${response.status} ${await response.text()}`);
      tokens.push(((await response.json()) as { access_token: string }).access_token);
    }
  }
  return tokens;
}

/** nginx, one worker, in the foreground: the Gatehouse-backed server, the reference, and the static upstream. */
async function startNginx(): Promise<ChildProcess> {
  const prefix = join(dataDir, 'nginx');
  mkdirSync(join(prefix, 'logs'), { recursive: true, mode: 0o777 });
  chmodSync(prefix, 0o755);
  for (const file of ['gatehouse-auth.conf', 'gatehouse-location.conf']) copyFileSync(join(root, 'deploy/nginx', file), join(prefix, file));
  writeFileSync(
    join(prefix, 'nginx.conf'),
    `daemon off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy; fastcgi_temp_path ${prefix}/fastcgi; uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
    upstream gatehouse { server 127.0.0.1:${GATEHOUSE_PORT}; keepalive 64; }
    upstream static_upstream { server 127.0.0.1:${STATIC_PORT}; keepalive 64; }
    upstream static_auth { server 127.0.0.1:${STATIC_PORT}; keepalive 64; }
    server {
        listen 127.0.0.1:${STATIC_PORT};
        location / { return 200 "ok\\n"; }
    }
    server {
        listen 127.0.0.1:${NGINX_PORT};
        include ${prefix}/gatehouse-location.conf;
        location / {
            include ${prefix}/gatehouse-auth.conf;
            proxy_pass http://static_upstream;
        }
    }
    server {
        listen 127.0.0.1:${REFERENCE_PORT};
        location = /_static_auth {
            internal;
            proxy_pass http://static_auth/auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location / {
            auth_request /_static_auth;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://static_upstream;
        }
    }
}
`,
  );
  const child = spawn('/usr/sbin/nginx', ['-p', `${prefix}/`, '-c', `${prefix}/nginx.conf`, '-e', `${prefix}/logs/error.log`], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (
      await fetch(`http://127.0.0.1:${STATIC_PORT}/`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error('nginx did not start');
}

/** wrk with the tokens in rotation (a Lua `request` handing out requests formatted in `init`), after a 2 s warm-up. */
async function measure(name: string, url: string, headers: Record<string, string>, tokens: string[], goal?: string): Promise<Row> {
  const script = join(dataDir, 'edge.lua');
  writeFileSync(
    script,
    [
      ...Object.entries(headers).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`),
      `tokens = { ${tokens.map((t) => JSON.stringify(t)).join(', ')} }`,
      // Each request is formatted once, up front: formatting one per request would cost wrk more CPU
      // than the server's decision, on the same two cores.
      'n = 0',
      'init = function(args) requests = {}; for i, t in ipairs(tokens) do wrk.headers["Authorization"] = "Bearer " .. t; requests[i] = wrk.format() end end',
      'request = function() n = n % #requests + 1; return requests[n] end',
    ].join('\n'),
  );
  const wrk = (seconds: number) =>
    new Promise<string>((resolve, reject) => {
      const child = spawn('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '-s', script, url]);
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.on('error', reject);
      child.on('exit', () => resolve(out));
    });
  await wrk(2);
  const before = gatehouse!.cpuSeconds();
  const out = await wrk(DURATION);
  const requests = Number(/(\d+) requests in /.exec(out)?.[1] ?? 0);
  const latency = (label: string) => {
    const match = new RegExp(`${label}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    return match ? +(Number(match[1]) * { us: 0.001, ms: 1, s: 1000 }[match[2] as 'us' | 'ms' | 's']).toFixed(2) : NaN;
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const usedGatehouse = !name.startsWith('reference');
  return {
    name,
    requestsPerSecond: Math.round(Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0)),
    p50Ms: latency('50'),
    p99Ms: latency('99'),
    errors: socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    gatehouseCpuMs: usedGatehouse ? cpuMsPer(gatehouse!.cpuSeconds() - before, requests) : undefined,
    goal,
  };
}

function report() {
  const at = new Date().toISOString();
  const stamp = at.replace(/[:.]/g, '-');
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileSync(
    join(root, `bench/results/${stamp}-edge.json`),
    `${JSON.stringify({ at, node: process.version, cpus: cpus().length, goals, rows, ratio }, null, 2)}\n`,
  );
  const md = [
    `# Edge authorization benchmark, ${at}`,
    '',
    `Node ${process.version}, ${cpus().length} CPUs, wrk from this process (1 thread, ${CONNECTIONS} connections, keep-alive, ${DURATION} s per case after 2 s of warm-up), nginx with one worker. Gatehouse runs as \`npm start\` does (\`${Object.entries(
      startEnv,
    )
      .map(([k, v]) => `${k}=${v} `)
      .join(
        '',
      )}node ${nodeArgs.join(' ')}\`), LOG_LEVEL=warn, one process. ${TOKENS} distinct JWT access tokens in rotation; one route (${HOST} /orders/* GET, scope orders:read).`,
    '',
    '| case | req/s | goal | p50 ms | p99 ms | errors | non-2xx | Gatehouse CPU ms/decision |',
    '|---|---:|---|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) => `| ${r.name} | ${r.requestsPerSecond} | ${r.goal ?? ''} | ${r.p50Ms} | ${r.p99Ms} | ${r.errors} | ${r.non2xx} | ${r.gatehouseCpuMs ?? ''} |`,
    ),
    '',
    `Through nginx / reference: ${ratio} (goal ≥ ${goals.nginxVsReference}). Direct: ${direct.requestsPerSecond}/s (goal ≥ ${goals.direct}).`,
  ].join('\n');
  writeFileSync(join(root, `bench/results/${stamp}-edge.md`), `${md}\n`);
  process.stdout.write(`${md}\n`);
}
