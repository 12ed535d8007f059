import * as client from 'openid-client';
import { createCookieJar } from '../test/support/cookie-jar.ts';
import { authorizationRequest, signIn } from '../test/support/sso.ts';

export interface LoginBenchOptions {
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  email: string;
  password: string;
  /** How many complete logins to run (bounded). */
  count?: number;
  concurrency?: number;
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
 * Complete browserless authorization-code logins, each in a fresh cookie jar: authorize → login
 * form → consent form → code → token → userinfo. The client should not be first-party, so the
 * consent page is part of every login.
 */
export async function benchLogins(options: LoginBenchOptions): Promise<LoginBenchResult> {
  const { count = 200, concurrency = 8 } = options;
  const config = await client.discovery(new URL(options.baseUrl), options.clientId, undefined, client.ClientSecretBasic(options.clientSecret), {
    execute: [client.allowInsecureRequests],
  });
  const durations: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let started = 0;

  async function oneLogin() {
    const request = await authorizationRequest(config, options.redirectUri);
    const { callback, pages } = await signIn(createCookieJar(), request.url, { email: options.email, password: options.password, consent: 'allow' });
    if (!callback) throw new Error(`the login did not reach the callback (last page: ${pages.at(-1)?.status} ${pages.at(-1)?.html.replace(/\s+/g, ' ').slice(0, 300)})`);
    const tokens = await client.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce });
    await client.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub);
  }

  async function worker() {
    while (started < count) {
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

  const begin = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
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
