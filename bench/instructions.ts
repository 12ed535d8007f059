// `npm run bench:instructions`: CPU instructions per token request, counted by valgrind's
// callgrind, for Gatehouse and for the bare oidc-provider. A count does not depend on how fast
// the machine is this minute, so two commits (or Gatehouse and bare) compare to within a few
// per cent, where `npm run bench`'s req/s on this shared 2-core machine drift by up to 40%.
//
// Each server runs under callgrind with `npm start`'s flags, counting off. After a warm-up (the
// JIT settles), counting is zeroed, N requests are sent, and the counters dumped: every thread
// of the process counts (V8's GC helpers and libuv's pool too). PostgreSQL is not counted.
//
// Needs valgrind (Debian: apt-get install valgrind). Environment:
//   INSTR_REQUESTS  requests per round (default 1500)     INSTR_ROUNDS  rounds (default 3)
//   INSTR_WARMUP    warm-up requests (default 1500)       BENCH_PORT    first of three ports (default 25430)
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../apps/core/config/config.ts';
import { openRuntime } from '../apps/core/db/runtime.ts';
import { createServices } from '../apps/core/services.ts';
import { startProcess, type ServerProcess } from './harness.ts';
import { JWT_API, OPAQUE_API, seedM2m, startBare, tokenRequest } from './m2m.ts';
import { gatehouseEnv, root, startCommand } from './server-env.ts';

const requests = Number(process.env.INSTR_REQUESTS ?? 1500);
const rounds = Number(process.env.INSTR_ROUNDS ?? 3);
const warmup = Number(process.env.INSTR_WARMUP ?? 1500);
const PG_PORT = Number(process.env.BENCH_PORT ?? 25430);

if (spawnSync('valgrind', ['--version']).error) {
  process.stderr.write('bench:instructions needs valgrind (Debian: apt-get install valgrind)\n');
  process.exit(2);
}

interface Counted {
  server: ServerProcess;
  env: Record<string, string>;
  outDir: string;
}

/** Starts a server under callgrind with counting off; its dumps go to a directory of its own. */
async function underCallgrind(start: (wrapper: string[]) => Promise<ServerProcess>, env: Record<string, string>): Promise<Counted> {
  const outDir = mkdtempSync(join(tmpdir(), 'gatehouse-callgrind-'));
  const wrapper = ['valgrind', '--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${outDir}/cg.%p`];
  return { server: await start(wrapper), env, outDir };
}

/**
 * callgrind_control finds the process by a pipe whose name valgrind derives from USER and HOST
 * in the server's environment (HOST is also Gatehouse's listen address), so it gets the same.
 */
function control(target: Counted, command: string) {
  execFileSync('callgrind_control', [command, String(target.server.child.pid)], { env: { ...process.env, ...target.env }, stdio: 'ignore' });
}

async function send(request: ReturnType<typeof tokenRequest>, count: number) {
  let left = count;
  let failed = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (left-- > 0) {
        const response = await fetch(request.url, request);
        await response.arrayBuffer();
        if (response.status !== 200) failed++;
      }
    }),
  );
  if (failed) throw new Error(`${failed} of ${count} requests to ${request.url} failed`);
}

/** Instructions per request, one number per round. */
async function count(target: Counted, request: ReturnType<typeof tokenRequest>): Promise<number[]> {
  await send(request, warmup);
  control(target, '--instr=on');
  const perRequest: number[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const file of readdirSync(target.outDir)) rmSync(join(target.outDir, file));
    control(target, '--zero');
    await send(request, requests);
    control(target, '--dump');
    let total = 0;
    for (const file of readdirSync(target.outDir))
      total += Number(/^(?:summary|totals): (\d+)/m.exec(readFileSync(join(target.outDir, file), 'utf8'))?.[1] ?? 0);
    perRequest.push(total / requests);
  }
  control(target, '--instr=off');
  return perRequest;
}

const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
chmodSync(dataDir, 0o755);
const config = loadConfig({ DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(PG_PORT) });
const runtime = await openRuntime(config);
const services = createServices({ config, secrets: runtime.secrets, db: runtime.db });
const { client } = await seedM2m({ services });
const start = startCommand();
const gatehousePort = PG_PORT + 1;
const barePort = PG_PORT + 2;
const gatehouseEnvironment = gatehouseEnv(runtime, dataDir, { port: gatehousePort, rateLimit: false, workers: 1 });
const bareEnvironment = { ...start.env, PORT: String(barePort) };
const slowStart = { readyTimeoutMs: 300_000 };

const rows: Array<{ server: string; case: string; rounds: number[] }> = [];
// The two run at once: each counts only its own instructions.
const [gatehouse, bare] = await Promise.all([
  underCallgrind(
    (wrapper) => startProcess(start.entry, gatehouseEnvironment, `http://127.0.0.1:${gatehousePort}`, '/readyz', start.nodeArgs, { wrapper, ...slowStart }),
    gatehouseEnvironment,
  ),
  underCallgrind((wrapper) => startBare(barePort, start, { wrapper, ...slowStart }), bareEnvironment),
]);
try {
  const [ours, theirs] = await Promise.all([
    count(gatehouse, tokenRequest(gatehouse.server.url, client.id, client.secret, JWT_API)),
    count(bare, tokenRequest(bare.server.url, 'bare', 'bare-secret', JWT_API)),
  ]);
  rows.push({ server: 'Gatehouse', case: 'client_credentials JWT', rounds: ours });
  rows.push({ server: 'bare oidc-provider', case: 'client_credentials JWT', rounds: theirs });
  rows.push({
    server: 'Gatehouse',
    case: 'client_credentials opaque',
    rounds: await count(gatehouse, tokenRequest(gatehouse.server.url, client.id, client.secret, OPAQUE_API)),
  });
} finally {
  await Promise.all([gatehouse.server.stop(), bare.server.stop()]);
  for (const { outDir } of [gatehouse, bare]) rmSync(outDir, { recursive: true, force: true });
  await runtime.close();
  rmSync(dataDir, { recursive: true, force: true });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const thousands = (value: number) => Math.round(value / 1000).toLocaleString('en-US');
const jwtOf = (server: string) => median(rows.find((r) => r.server === server && r.case === 'client_credentials JWT')!.rounds);
const at = new Date().toISOString();
const md = [
  `# Gatehouse instruction counts, ${at}`,
  '',
  `Node ${process.version}, callgrind; ${warmup} warm-up requests, then ${rounds} rounds of ${requests} (16 at a time). Both servers run with \`npm start\`'s flags; Gatehouse with LOG_LEVEL=warn and the rate limiter off, as in \`npm run bench\`'s bare comparison.`,
  '',
  '| server | case | thousand instructions per request, median | rounds |',
  '|---|---|---:|---|',
  ...rows.map((r) => `| ${r.server} | ${r.case} | ${thousands(median(r.rounds))} | ${r.rounds.map(thousands).join(', ')} |`),
  '',
  `- bare / Gatehouse instructions per JWT token (what the req/s ratio would be if the CPU were the only limit): ${(jwtOf('bare oidc-provider') / jwtOf('Gatehouse')).toFixed(2)}`,
  '',
].join('\n');
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, `bench/results/${at.replace(/[:.]/g, '-')}-instructions.md`), md);
process.stdout.write(md);
