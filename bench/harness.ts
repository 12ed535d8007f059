// What every bench section shares: starting a server process, driving it with wrk or autocannon, and
// reading its peak memory. Sections (m2m.ts, login.ts, ...) receive a BenchContext and return rows.
import autocannon from 'autocannon';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CaseResult {
  section: string;
  name: string;
  target: string;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
  /** Target's requests per second, if the case has one (for the table). */
  goal?: number;
  /**
   * The server's CPU time (user + system, the process and its workers) per request, in ms. On a
   * shared machine whose speed drifts from minute to minute this moves less than req/s, so it is
   * the better number to compare two commits by.
   */
  serverCpuMs?: number;
}

export interface LoadOptions {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** Bodies sent in turn instead of `body`, one per request (e.g. many tokens to introspect). */
  bodies?: string[];
  connections?: number;
  durationSeconds?: number;
  /** The server under load, whose CPU per request the result reports. */
  server?: Pick<ServerProcess, 'cpuSeconds'>;
}

export const benchDefaults = { connections: 50, durationSeconds: Number(process.env.BENCH_DURATION ?? 10) };

/**
 * The load generator: wrk (C, from apt) when it is installed, since on a 2-core machine the
 * generator competes with the server for CPU and wrk needs a fraction of what autocannon
 * (JavaScript) does; autocannon otherwise, or when BENCH_LOADGEN=autocannon.
 */
export const loadGenerator = process.env.BENCH_LOADGEN === 'autocannon' || !hasWrk() ? 'autocannon' : 'wrk';

function hasWrk(): boolean {
  return spawnSync('wrk', ['--version']).error === undefined;
}

export async function load(section: string, name: string, options: LoadOptions, goal?: number): Promise<CaseResult> {
  const run = loadGenerator === 'wrk' ? loadWithWrk : loadWithAutocannon;
  // A short warm-up first, so every case (the bare provider's too) is measured with a warm JIT.
  await run({ ...options, durationSeconds: 2 });
  const cpuBefore = options.server?.cpuSeconds();
  const { requests, ...measured } = await run(options);
  const serverCpuMs = cpuBefore === undefined ? undefined : cpuMsPer(options.server!.cpuSeconds() - cpuBefore, requests);
  return { section, name, target: options.url, goal, ...measured, serverCpuMs };
}

/** CPU seconds spread over `count` requests (or logins), in ms with three decimals. */
export const cpuMsPer = (seconds: number, count: number) => (count ? +((seconds * 1000) / count).toFixed(3) : undefined);

let bodyIndex = 0;
const nextBody = (bodies: string[]) => bodies[bodyIndex++ % bodies.length];

type Measured = Pick<CaseResult, 'requestsPerSecond' | 'p50Ms' | 'p99Ms' | 'errors' | 'non2xx'> & { requests: number };

async function loadWithAutocannon(options: LoadOptions): Promise<Measured> {
  const result = await autocannon({
    url: options.url,
    method: options.method ?? 'GET',
    headers: options.headers,
    body: options.body,
    ...(options.bodies && { requests: [{ setupRequest: (request: object) => ({ ...request, body: nextBody(options.bodies!) }) }] }),
    connections: options.connections ?? benchDefaults.connections,
    duration: options.durationSeconds ?? benchDefaults.durationSeconds,
    pipelining: 1,
  });
  return {
    requestsPerSecond: Math.round(result.requests.average),
    requests: result.requests.total,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

async function loadWithWrk(options: LoadOptions): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-wrk-'));
  const script = join(dir, 'request.lua');
  const lua = [
    `wrk.method = ${JSON.stringify(options.method ?? 'GET')}`,
    ...(options.body ? [`wrk.body = ${JSON.stringify(options.body)}`] : []),
    ...Object.entries(options.headers ?? {}).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`),
    ...(options.bodies
      ? [
          `bodies = { ${options.bodies.map((b) => JSON.stringify(b)).join(', ')} }`,
          'n = 0',
          'request = function() n = n % #bodies + 1; return wrk.format(nil, nil, nil, bodies[n]) end',
        ]
      : []),
  ];
  writeFileSync(script, `${lua.join('\n')}\n`);
  const args = [
    '-t1',
    `-c${options.connections ?? benchDefaults.connections}`,
    `-d${options.durationSeconds ?? benchDefaults.durationSeconds}s`,
    '--latency',
    '-s',
    script,
    options.url,
  ];
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('wrk', args);
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.on('error', reject);
    child.on('exit', () => resolve(text));
  });
  rmSync(dir, { recursive: true, force: true });
  const ms = (label: string) => {
    const match = new RegExp(`${label}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    if (!match) return NaN;
    return Number(match[1]) * { us: 0.001, ms: 1, s: 1000 }[match[2] as 'us' | 'ms' | 's'];
  };
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requestsPerSecond: Math.round(Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0)),
    requests: Number(/(\d+) requests in /.exec(out)?.[1] ?? 0),
    p50Ms: +ms('50').toFixed(2),
    p99Ms: +ms('99').toFixed(2),
    errors: socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
  };
}

/** Peak resident memory (VmHWM) of a process and its direct children, in MB. */
export function peakRssMb(pid: number): number {
  let kb = 0;
  for (const p of processTree(pid)) {
    try {
      const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      kb += match ? Number(match[1]) : 0;
    } catch {
      // gone
    }
  }
  return Math.round(kb / 1024);
}

/** CPU seconds (user + system) that a process and its direct children have used so far. */
export function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return ticks / 100; // USER_HZ
}

/** A process and its direct children (a cluster primary's workers). */
function processTree(pid: number): number[] {
  try {
    return [pid, ...readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)];
  } catch {
    return [pid];
  }
}

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  /** The pids whose memory counts (the process, or a cluster primary's workers). */
  peakRssMb(): number;
  /** CPU seconds used so far by the same pids. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** A program node runs under (its command and arguments). */
  wrapper?: string[];
  readyTimeoutMs?: number;
}

/**
 * Starts `node [nodeArgs] <entry>` with env, and waits until `readyPath` answers. `wrapper` runs
 * node under another program (valgrind, for bench/instructions.ts), which may need longer to be ready.
 */
export async function startProcess(
  entry: string,
  env: Record<string, string>,
  url: string,
  readyPath: string,
  nodeArgs: string[] = [],
  { wrapper = [], readyTimeoutMs = 30_000 }: StartOptions = {},
): Promise<ServerProcess> {
  const [command, ...args] = [...wrapper, process.execPath, ...nodeArgs, entry];
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)));
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${entry} exited with ${child.exitCode}: ${stderr}`);
    try {
      if ((await fetch(`${url}${readyPath}`)).ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${entry} did not become ready: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    child,
    peakRssMb: () => peakRssMb(child.pid!),
    cpuSeconds: () => cpuSeconds(child.pid!),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(force);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

export const form = (params: Record<string, string>) => new URLSearchParams(params).toString();
export const basicAuth = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
