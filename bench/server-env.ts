// How the benchmarks start Gatehouse: as `npm start` does (package.json's flags and environment),
// against the benchmark's PostgreSQL, on a loopback port.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Runtime } from '../apps/core/db/runtime.ts';

export const root = resolve(import.meta.dirname, '..');

/**
 * Node's flags and environment from `npm start` (package.json), so the server runs here exactly
 * as it does in production: V8's young generation, heap growth and malloc's arenas are tuned
 * there to bound memory.
 */
export function startCommand(): { env: Record<string, string>; nodeArgs: string[]; entry: string } {
  const words = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start.split(/\s+/);
  return {
    env: Object.fromEntries(
      words.filter((word) => /^[A-Z_][A-Z0-9_]*=/.test(word)).map((word) => [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)]),
    ),
    nodeArgs: words.filter((word) => word.startsWith('--')),
    entry: join(root, words[words.length - 1]),
  };
}

/**
 * Gatehouse's environment for one benchmark process on `port`. The login section runs against the
 * default protection. The m2m sections measure the throughput of one service from one address,
 * far beyond what one address sends in production: for them the per-address ceiling is raised
 * here, and the bench clients' own quotas with `clients.update` (m2m.ts), as an operator would
 * for a known heavy service.
 */
export function gatehouseEnv(
  runtime: Runtime,
  dataDir: string,
  { port, rateLimit, workers, load = 'm2m' }: { port: number; rateLimit: boolean; workers: number; load?: 'm2m' | 'login' },
): Record<string, string> {
  return {
    ...startCommand().env,
    NODE_ENV: 'production',
    DATABASE_URL: runtime.databaseUrl,
    DATA_DIR: dataDir,
    PORT: String(port),
    HOST: '127.0.0.1',
    ISSUER: `http://127.0.0.1:${port}`,
    KEY_ENCRYPTION_KEY: runtime.secrets.keyEncryptionKey,
    COOKIE_KEYS: runtime.secrets.cookieKeys.join(','),
    CLIENT_SECRET_PEPPER: runtime.secrets.clientSecretPepper,
    LOG_LEVEL: 'warn',
    // The hook for the rate-limit comparison: the limiter's own switch.
    RATE_LIMIT_ENABLED: String(rateLimit),
    ...(load === 'm2m' && { RATE_LIMIT_PER_ADDRESS: '1000000/s', RATE_LIMIT_PER_ADDRESS_BURST: '1000000' }),
    WEB_CONCURRENCY: String(workers),
    // Production serves /metrics on the public port only to this bearer (the PDP section reads the engine's time there).
    METRICS_TOKEN: metricsToken,
  };
}

/** The bearer token the benchmark's servers require for /metrics: random per run, never a real one. */
export const metricsToken = randomBytes(32).toString('base64url');
