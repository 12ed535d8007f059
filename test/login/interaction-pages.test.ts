import * as client from 'openid-client';
import { createCookieJar, type CookieJar } from '../support/cookie-jar.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { authorizationRequest, PASSWORD, signIn, ssoFixtures } from '../support/sso.ts';

let database: TestDatabase;
let server: TestServer;
let fixtures: ReturnType<typeof ssoFixtures>;
let app: Awaited<ReturnType<ReturnType<typeof ssoFixtures>['createClient']>>;

beforeAll(async () => {
  database = await createTestDatabase();
  server = await startTestServer({ databaseUrl: database.url });
  fixtures = ssoFixtures(server);
  await fixtures.createUser('ada@example.com');
  app = await fixtures.createClient();
});
afterAll(async () => {
  await server?.close();
  await database?.drop();
});

/** Opens the login page of a fresh authorization request. */
async function openLogin(jar: CookieJar, params: Record<string, string> = {}) {
  const request = await authorizationRequest(app.config, app.redirectUri, params);
  const { pages } = await signIn(jar, request.url);
  const html = pages[0].html;
  return {
    html,
    action: new URL(html.match(/action="([^"]+)"/)![1], server.url).href,
    csrf: html.match(/name="csrf" value="([^"]+)"/)![1],
  };
}

const postForm = (jar: CookieJar, url: string, fields: Record<string, string>) =>
  jar.fetch(url, { method: 'POST', body: new URLSearchParams(fields), headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' } });

describe('the login page', () => {
  it('is served with a strict CSP, no framing, no referrer and no caching', async () => {
    const jar = createCookieJar();
    const request = await authorizationRequest(app.config, app.redirectUri);
    let response = await jar.fetch(request.url);
    response = await jar.fetch(new URL(response.headers.get('location')!, server.url));
    expect(response.status).toBe(200);
    const csp = response.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("base-uri 'none'");
    expect(csp).toContain("form-action 'self' http://127.0.0.1:9");
    expect(csp).not.toContain('unsafe-inline');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    expect(response.headers.get('cache-control')).toBe('no-store');
    const html = await response.text();
    expect(html).toContain('<label for="email">');
    expect(html).not.toMatch(/<script|style=/);
  });

  it('prefills the email from login_hint', async () => {
    const { html } = await openLogin(createCookieJar(), { login_hint: 'grace@example.com' });
    expect(html).toContain('value="grace@example.com"');
  });

  it.each([
    ['a wrong password', 'ada@example.com', 'not the password'],
    ['an unknown email', 'nobody@example.com', PASSWORD],
  ])('answers %s with the one generic message, announced as an alert', async (_label, email, password) => {
    const jar = createCookieJar();
    const { action, csrf } = await openLogin(jar);
    const response = await postForm(jar, action, { csrf, email, password });
    expect(response.status).toBe(401);
    const html = await response.text();
    expect(html).toContain('<div class="alert" role="alert" aria-live="assertive" id="login-error">Invalid email or password.</div>');
    expect(html).toContain(`value="${email}"`);
  });

  it('refuses a login form without a CSRF token', async () => {
    const jar = createCookieJar();
    const { action } = await openLogin(jar);
    const response = await postForm(jar, action, { email: 'ada@example.com', password: PASSWORD });
    expect(response.status).toBe(403);
    expect(response.headers.get('location')).toBeNull();
    expect(await response.text()).toContain('was not sent from the sign-in page it belongs to');
  });

  it('refuses a CSRF token taken from another sign-in', async () => {
    const jar = createCookieJar();
    const other = await openLogin(createCookieJar());
    const { action } = await openLogin(jar);
    const response = await postForm(jar, action, { csrf: other.csrf, email: 'ada@example.com', password: PASSWORD });
    expect(response.status).toBe(403);
  });

  it("refuses a form posted to another browser's sign-in", async () => {
    const victim = await openLogin(createCookieJar());
    const attacker = createCookieJar();
    await openLogin(attacker);
    const response = await postForm(attacker, victim.action, { csrf: victim.csrf, email: 'ada@example.com', password: PASSWORD });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('This sign-in page has expired');
  });
});

describe('the consent page', () => {
  it('sends access_denied back to the client when the person declines', async () => {
    const request = await authorizationRequest(app.config, app.redirectUri);
    const { callback } = await signIn(createCookieJar(), request.url, { email: 'ada@example.com', password: PASSWORD, consent: 'deny' });
    const url = new URL(callback!);
    expect(url.searchParams.get('error')).toBe('access_denied');
    expect(url.searchParams.get('state')).toBe(request.state);
    expect(url.searchParams.get('iss')).toBe(server.issuer);
  });

  it('is skipped for a first-party client', async () => {
    const firstParty = await fixtures.createClient({ firstParty: true });
    const request = await authorizationRequest(firstParty.config, firstParty.redirectUri);
    const { callback, pages } = await signIn(createCookieJar(), request.url, { email: 'ada@example.com', password: PASSWORD });
    expect(pages).toHaveLength(1);
    expect(new URL(callback!).searchParams.get('code')).toBeTruthy();
  });
});

describe('redirect_uri checks', () => {
  it.each([
    ['a trailing slash', 'http://127.0.0.1:9/callback/'],
    ['an added query', 'http://127.0.0.1:9/callback?x=1'],
    ['a different case', 'http://127.0.0.1:9/Callback'],
    ['dot segments', 'http://127.0.0.1:9/x/../callback'],
    ['userinfo', 'http://attacker@127.0.0.1:9/callback'],
    ['a different port', 'http://127.0.0.1:10/callback'],
    ['a suffix domain', 'http://127.0.0.1.attacker.example:9/callback'],
    ['an unregistered host', 'http://attacker.example/callback'],
  ])('shows an error page and never redirects for %s', async (_label, redirectUri) => {
    const url = client.buildAuthorizationUrl(app.config, {
      redirect_uri: redirectUri,
      scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    });
    // openid-client normalizes URLs; the raw value is what an attacker would send.
    url.searchParams.set('redirect_uri', redirectUri);
    const response = await fetch(url, { redirect: 'manual', headers: { accept: 'text/html' } });
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    const html = await response.text();
    expect(html).toContain('Something went wrong');
    expect(html).toContain('not allowed to');
    expect(html).not.toMatch(/at .*\.js:\d+/);
  });

  it('keeps errors JSON for callers that ask for JSON', async () => {
    const url = client.buildAuthorizationUrl(app.config, { redirect_uri: 'http://attacker.example/', scope: 'openid' });
    const response = await fetch(url, { redirect: 'manual', headers: { accept: 'application/json' } });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_redirect_uri' });
  });
});
