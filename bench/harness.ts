// What every bench section shares: starting a server process, driving it with autocannon, and
// reading its peak memory. Sections (m2m.ts, login.ts, ...) receive a BenchContext and return rows.
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

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
}

export interface LoadOptions {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** A fresh body per request (e.g. a different token to introspect). */
  requests?: Array<{ method: 'GET' | 'POST'; path: string; headers?: Record<string, string>; body?: string }>;
  connections?: number;
  durationSeconds?: number;
}

export const benchDefaults = { connections: 50, durationSeconds: Number(process.env.BENCH_DURATION ?? 10) };

export async function load(section: string, name: string, options: LoadOptions, goal?: number): Promise<CaseResult> {
  const result = await autocannon({
    url: options.url,
    method: options.method ?? 'GET',
    headers: options.headers,
    body: options.body,
    requests: options.requests,
    connections: options.connections ?? benchDefaults.connections,
    duration: options.durationSeconds ?? benchDefaults.durationSeconds,
    pipelining: 1,
  });
  return {
    section,
    name,
    target: options.url,
    requestsPerSecond: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    goal,
  };
}

/** Peak resident memory (VmHWM) of a process and its direct children, in MB. */
export function peakRssMb(pid: number): number {
  const pids = [pid, ...childPids(pid)];
  let kb = 0;
  for (const p of pids) {
    try {
      const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      kb += match ? Number(match[1]) : 0;
    } catch {
      // gone
    }
  }
  return Math.round(kb / 1024);
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  /** The pids whose memory counts (the process, or a cluster primary's workers). */
  peakRssMb(): number;
  stop(): Promise<void>;
}

/** Starts `node <entry>` with env, and waits until `readyPath` answers. */
export async function startProcess(entry: string, env: Record<string, string>, url: string, readyPath: string): Promise<ServerProcess> {
  const child = spawn(process.execPath, [entry], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)));
  const deadline = Date.now() + 30_000;
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
