// Browser sign-in load: complete authorization-code logins, each in a fresh cookie jar, driven
// from the bench process against the Gatehouse process the harness started.
import { randomBytes } from 'node:crypto';
import { paths } from '../apps/server/paths.ts';
import { benchDefaults, cpuMsPer, type CaseResult } from './harness.ts';
import { createLoginClient, type LoginClientOptions } from './login-client.ts';
import type { BenchContext, BenchSection } from './run.ts';

export const loginGoal = 60;

export interface LoginBenchOptions extends Omit<LoginClientOptions, 'sockets'> {
  concurrency?: number;
  /** Logins are started until this many seconds have passed, or `maxLogins` have started. */
  durationSeconds?: number;
  maxLogins?: number;
}

export interface LoginBenchResult {
  logins: number;
  errors: number;
  seconds: number;
  loginsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  firstError?: string;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

/**
 * Complete browserless authorization-code logins (login-client.ts), each in a fresh cookie jar:
 * authorize → login form → consent form → code → token → userinfo. The client should not be
 * first-party, so the consent page is part of every login.
 */
export async function benchLogins(options: LoginBenchOptions): Promise<LoginBenchResult> {
  const { concurrency = 8, durationSeconds = benchDefaults.durationSeconds, maxLogins = 100_000 } = options;
  const oneLogin = await createLoginClient({ ...options, sockets: concurrency });
  const durations: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let started = 0;

  const begin = performance.now();
  const deadline = begin + durationSeconds * 1000;
  async function worker() {
    while (started < maxLogins && performance.now() < deadline) {
      started++;
      const at = performance.now();
      try {
        await oneLogin();
        durations.push(performance.now() - at);
      } catch (error) {
        errors++;
        firstError ??= String((error as Error).message);
      }
    }
  }

  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - begin) / 1000;
  const sorted = durations.sort((a, b) => a - b);
  return {
    logins: durations.length,
    errors,
    seconds: Number(seconds.toFixed(2)),
    loginsPerSecond: Number((durations.length / seconds).toFixed(1)),
    p50Ms: Math.round(percentile(sorted, 50)),
    p99Ms: Math.round(percentile(sorted, 99)),
    firstError,
  };
}

/** A user, and a client that is not first-party, so every login shows the consent page. */
export async function seedLogin({ services }: BenchContext) {
  const email = `bench-${randomBytes(4).toString('hex')}@example.test`;
  const password = 'correct horse battery staple';
  await services.users.create({ email, password, name: 'Bench User', emailVerified: true });
  const redirectUri = 'http://127.0.0.1:9/callback';
  const created = await services.clients.create({
    name: 'bench web app',
    grantTypes: ['authorization_code'],
    redirectUris: [redirectUri],
    scope: 'openid profile email',
  });
  return { email, password, redirectUri, clientId: created.clientId, clientSecret: created.clientSecret! };
}

const CONCURRENCY = Number(process.env.BENCH_LOGIN_CONCURRENCY ?? 8);
const LOGIN_WARMUP_SECONDS = 10;

/**
 * The login section of `npm run bench`, against the default protection (rate limits on, at their
 * defaults): the logins come from many loopback addresses (login-client.ts), as people's do, so
 * what it measures is the server, never a 429. The m2m section compares the limiter on and off.
 */
export const loginSection: BenchSection = {
  name: 'login',
  load: 'login',
  protectedOnly: true,
  async run(ctx): Promise<CaseResult[]> {
    const seeded = await seedLogin(ctx);
    const options = { baseUrl: ctx.gatehouse.url, ...seeded, concurrency: CONCURRENCY };
    // Warm-up: the JIT (the m2m cases before this one never ran the login path), the connection
    // pool and the client cache. Each m2m case warms up on about 6,000 requests (2 s of load);
    // a login is nine requests, and the login path runs each of its functions once per login, so
    // it takes about as many logins (10 s here) before it runs at its steady rate: in one
    // process, 6 s rounds from cold measured 51, 57, 60, 58, 60 and 62 logins/s.
    await benchLogins({ ...options, durationSeconds: LOGIN_WARMUP_SECONDS });
    const cpuBefore = ctx.gatehouse.cpuSeconds();
    const result = await benchLogins(options);
    const serverCpuMs = cpuMsPer(ctx.gatehouse.cpuSeconds() - cpuBefore, result.logins);
    if (result.firstError) process.stderr.write(`bench login: ${result.errors} failed logins; first: ${result.firstError}\n`);
    return [
      {
        section: 'login',
        name: `authorization-code login, ${CONCURRENCY} concurrent, ${ctx.rateLimit ? 'default rate limits' : 'RATE_LIMIT_ENABLED=false'} (logins/s)`,
        target: `${ctx.gatehouse.url}${paths.authorization}`,
        requestsPerSecond: result.loginsPerSecond,
        p50Ms: result.p50Ms,
        p99Ms: result.p99Ms,
        errors: result.errors,
        non2xx: 0,
        goal: loginGoal,
        serverCpuMs,
      },
    ];
  },
};
