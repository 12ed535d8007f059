import { useFleet } from './fleet.ts';
import { createTestClock } from '../support/clock.ts';
import { createCookieJar, type CookieJar } from '../support/cookie-jar.ts';
import { startTestServer } from '../support/server.ts';
import { authorizationRequest, decode, field, formAction, PASSWORD, signIn, ssoFixtures } from '../support/sso.ts';
import { sample, scrapeMetrics } from '../support/prometheus.ts';

// Issue 16 item 1: sign-in throttling counts failed passwords per address, never successes, and
// a guesser on one account meets the account's lockout before the address's budget.

// The servers' clock: budgets refill by it.
const clock = createTestClock();
// One database and one set of secrets: the servers here share the signing keys.
const fleet = useFleet({ clock });

async function start(env: Record<string, string> = {}) {
  const server = await fleet.start(env);
  const fixtures = ssoFixtures(server);
  return { server, fixtures, app: await fixtures.createClient() };
}

/** A browser behind `address`. */
function browserAt(address: string): CookieJar {
  return createCookieJar(fleet.from(address));
}

/** Opens one sign-in page and returns a way to submit its form again and again, as a guesser does. */
async function loginForm(jar: CookieJar, app: Awaited<ReturnType<typeof start>>['app']) {
  const { url } = await authorizationRequest(app.config, app.redirectUri);
  const { pages } = await signIn(jar, url);
  const page = pages.at(-1)!;
  const action = new URL(decode(formAction(page.html)!), page.url).href;
  const csrf = field(page.html, 'csrf')!;
  return async (email: string, password: string) => {
    const response = await jar.fetch(action, {
      method: 'POST',
      headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, email, password }),
    });
    return { status: response.status, retryAfter: response.headers.get('retry-after'), headers: response.headers, html: await response.text() };
  };
}

const signsIn = async (jar: CookieJar, app: Awaited<ReturnType<typeof start>>['app'], email: string) => {
  const { url } = await authorizationRequest(app.config, app.redirectUri);
  return (await signIn(jar, url, { email, password: PASSWORD, consent: 'allow' })).callback;
};

describe('login with the default protection', () => {
  let s: Awaited<ReturnType<typeof start>>;
  beforeAll(async () => {
    s = await start();
  });

  it('lets 30 colleagues behind one office address sign in and consent at once (regression: 30 login and consent posts a minute per address)', async () => {
    const emails = Array.from({ length: 30 }, (_, i) => `colleague-${i}@example.com`);
    for (const email of emails) await s.fixtures.createUser(email);
    const callbacks = await Promise.all(emails.map((email) => signsIn(browserAt('127.0.0.4'), s.app, email)));
    expect(callbacks.filter((c) => c?.startsWith(`${s.app.redirectUri}?code=`))).toHaveLength(30);
    expect(sample(await scrapeMetrics(s.server.url), 'gatehouse_rate_limit_rejections_total')).toBe(0);
  });

  it('shows a guesser the generic page at wrong password number 30, locks the account, and leaves the address able to sign in', async () => {
    const victim = await s.fixtures.createUser('guessed@example.com');
    const submit = await loginForm(browserAt('127.0.0.5'), s.app);
    for (let i = 1; i <= 30; i++) {
      const answer = await submit(victim.email, `wrong guess ${i}`);
      expect({ i, status: answer.status, generic: answer.html.includes('Invalid email or password.') }).toEqual({ i, status: 401, generic: true });
    }
    expect((await s.server.db.user.findUniqueOrThrow({ where: { id: victim.id } })).lockedUntil!.getTime()).toBeGreaterThan(Date.now());
    const locked = await submit(victim.email, PASSWORD);
    expect({ status: locked.status, generic: locked.html.includes('Invalid email or password.') }).toEqual({ status: 401, generic: true });

    // The address's budget has not tripped: someone else at that address signs in.
    await s.fixtures.createUser('same-desk@example.com');
    expect(await signsIn(browserAt('127.0.0.5'), s.app, 'same-desk@example.com')).toMatch(/\?code=/);
  });

  it('answers a password sprayer over many accounts with the 429 page once the burst of 60 failures is spent', async () => {
    const accounts = Array.from({ length: 20 }, (_, i) => `sprayed-${i}@example.com`);
    for (const email of accounts) await s.fixtures.createUser(email);
    const submit = await loginForm(browserAt('127.0.0.6'), s.app);
    for (let i = 0; i < 60; i++) expect((await submit(accounts[i % accounts.length], `Spring2026!${i}`)).status).toBe(401);

    const refused = await submit(accounts[0], 'Summer2026!');
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.retryAfter);
    // 6 a minute: the next failure fits within ten seconds.
    expect(retryAfter).toBeGreaterThanOrEqual(8);
    expect(retryAfter).toBeLessThanOrEqual(10);
    expect(refused.headers.get('content-type')).toMatch(/^text\/html/);
    expect(refused.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(refused.html).toContain('<h1>Too many attempts</h1>');
    expect(refused.html).toContain(`Please wait ${retryAfter} seconds, then try again.`);
    expect(refused.html).not.toContain('style=');
    expect(sample(await scrapeMetrics(s.server.url), 'gatehouse_rate_limit_rejections_total', { rule: 'login_failures' })).toBe(1);

    // Another address is not concerned.
    const elsewhere = await loginForm(browserAt('127.0.0.7'), s.app);
    expect((await elsewhere(accounts[0], 'Summer2026!')).status).toBe(401);
  });
});

describe('login with a small, fast failure budget', () => {
  let s: Awaited<ReturnType<typeof start>>;
  beforeAll(async () => {
    s = await start({ RATE_LIMIT_LOGIN_FAILURES: '1/s', RATE_LIMIT_LOGIN_FAILURES_BURST: '3', LOCKOUT_THRESHOLD: '3' });
  });

  it('never spends the budget on successful sign-ins and consents, only on failures', async () => {
    await s.fixtures.createUser('often@example.com');
    for (let i = 0; i < 5; i++) expect(await signsIn(browserAt('127.0.0.8'), s.app, 'often@example.com')).toMatch(/\?code=/);
    const submit = await loginForm(browserAt('127.0.0.8'), s.app);
    for (let i = 0; i < 3; i++) expect((await submit(`nobody-${i}@example.com`, 'wrong')).status).toBe(401);
    expect((await submit('nobody@example.com', 'wrong')).status).toBe(429);
  });

  it('says "Please wait 1 second" when the wait is one second (regression: "1 seconds")', async () => {
    const submit = await loginForm(browserAt('127.0.0.9'), s.app);
    for (let i = 0; i < 3; i++) expect((await submit(`nobody-${i}@example.com`, 'wrong')).status).toBe(401);
    const refused = await submit('nobody@example.com', 'wrong');
    expect({ status: refused.status, retryAfter: refused.retryAfter }).toEqual({ status: 429, retryAfter: '1' });
    expect(refused.html).toContain('Please wait 1 second, then try again.');
  });

  it('lets the address try again once the budget has refilled', async () => {
    const submit = await loginForm(browserAt('127.0.0.10'), s.app);
    for (let i = 0; i < 3; i++) await submit(`nobody-${i}@example.com`, 'wrong');
    expect((await submit('nobody@example.com', 'wrong')).status).toBe(429);
    clock.advance(1000);
    expect((await submit('nobody@example.com', 'wrong')).status).toBe(401);
  });

  it('refuses at start a failure budget smaller than the lockout threshold, naming the variable', async () => {
    await expect(startTestServer({ databaseUrl: fleet.database.url, env: { RATE_LIMIT_LOGIN_FAILURES_BURST: '29' } })).rejects.toThrow(
      /^RATE_LIMIT_LOGIN_FAILURES_BURST: expected at least LOCKOUT_THRESHOLD \(30\)/,
    );
  });
});
