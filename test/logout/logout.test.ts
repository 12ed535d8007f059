import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as jose from 'jose';
import * as client from 'openid-client';
import { createCookieJar, type CookieJar } from '../support/cookie-jar.ts';
import type { TestServer } from '../support/server.ts';
import { authorizationRequest, PASSWORD, signIn, type ssoFixtures, startSsoServer } from '../support/sso.ts';

let sso: Awaited<ReturnType<typeof startSsoServer>>;
let server: TestServer;
let fixtures: ReturnType<typeof ssoFixtures>;
let receiver: Server;
let receiverUrl: string;
const logoutTokens: string[] = [];
type App = Awaited<ReturnType<ReturnType<typeof ssoFixtures>['createClient']>>;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      logoutTokens.push(new URLSearchParams(body).get('logout_token')!);
      res.end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/backchannel`;
  sso = await startSsoServer();
  ({ server, fixtures } = sso);
});
afterAll(async () => {
  await sso?.close();
  await new Promise((r) => receiver?.close(r));
});

async function login(jar: CookieJar, app: App) {
  const request = await authorizationRequest(app.config, app.redirectUri);
  const { callback } = await signIn(jar, request.url, { email: 'ada@example.com', password: PASSWORD, consent: 'allow' });
  return client.authorizationCodeGrant(app.config, new URL(callback!), {
    pkceCodeVerifier: request.verifier,
    expectedState: request.state,
    expectedNonce: request.nonce,
  });
}

/** Opens the logout page and answers "Yes, sign me out". */
async function confirmLogout(jar: CookieJar, url: URL) {
  const page = await jar.fetch(url, { headers: { accept: 'text/html' } });
  const html = await page.text();
  expect(page.status).toBe(200);
  expect(html).toContain('Sign out?');
  const action = html.match(/<form id="op.logoutForm" method="post" action="([^"]+)"/)![1];
  const xsrf = html.match(/name="xsrf" value="([^"]+)"/)![1];
  return jar.fetch(action, {
    method: 'POST',
    body: new URLSearchParams({ xsrf, logout: 'yes' }),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
}

describe('RP-initiated logout', () => {
  it('ends the session, returns to the registered post_logout_redirect_uri with state, and notifies every client back-channel', async () => {
    const jar = createCookieJar();
    const a = await fixtures.createClient({ firstParty: true, backchannelLogoutUri: receiverUrl });
    const b = await fixtures.createClient({ firstParty: true, backchannelLogoutUri: receiverUrl });
    const tokensA = await login(jar, a);
    await login(jar, b);
    logoutTokens.length = 0;

    const url = client.buildEndSessionUrl(a.config, {
      id_token_hint: tokensA.id_token!,
      post_logout_redirect_uri: 'http://127.0.0.1:9/logged-out',
      state: 'bye',
    });
    const done = await confirmLogout(jar, url);
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe('http://127.0.0.1:9/logged-out?state=bye');

    const jwks = jose.createRemoteJWKSet(new URL(`${server.url}/jwks`));
    const audiences = await Promise.all(
      logoutTokens.map(async (token) => {
        const { payload } = await jose.jwtVerify(token, jwks, { issuer: server.issuer });
        expect(payload.events).toEqual({ 'http://schemas.openid.net/event/backchannel-logout': {} });
        expect(payload.sub).toBe(tokensA.claims()!.sub);
        return payload.aud;
      }),
    );
    expect(audiences.sort()).toEqual([a.clientId, b.clientId].sort());

    const request = await authorizationRequest(a.config, a.redirectUri, { prompt: 'none' });
    const { callback } = await signIn(jar, request.url);
    expect(new URL(callback!).searchParams.get('error')).toBe('login_required');
  });

  it('shows the person they were signed out when no redirect is asked for', async () => {
    const jar = createCookieJar();
    const app = await fixtures.createClient();
    await login(jar, app);
    const done = await confirmLogout(jar, new URL(`${server.url}/session/end`));
    const success = await jar.fetch(new URL(done.headers.get('location')!, server.url), { headers: { accept: 'text/html' } });
    expect(success.status).toBe(200);
    expect(await success.text()).toContain('You are signed out');
  });

  it.each([
    [
      'an unregistered post_logout_redirect_uri',
      async (tokens: { id_token?: string }, app: App) =>
        client.buildEndSessionUrl(app.config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'http://attacker.example/' }),
    ],
    [
      'a tampered id_token_hint',
      async (tokens: { id_token?: string }, app: App) =>
        client.buildEndSessionUrl(app.config, {
          id_token_hint: `${tokens.id_token!.slice(0, -4)}AAAA`,
          post_logout_redirect_uri: 'http://127.0.0.1:9/logged-out',
        }),
    ],
    [
      'a foreign id_token_hint',
      async (_tokens: { id_token?: string }, app: App) => {
        const key = await jose.generateKeyPair('RS256');
        const forged = await new jose.SignJWT({ sub: 'x' })
          .setProtectedHeader({ alg: 'RS256' })
          .setIssuer(server.issuer)
          .setAudience(app.clientId)
          .setIssuedAt()
          .setExpirationTime('1h')
          .sign(key.privateKey);
        return client.buildEndSessionUrl(app.config, { id_token_hint: forged, post_logout_redirect_uri: 'http://127.0.0.1:9/logged-out' });
      },
    ],
  ])('shows an error page and never redirects for %s', async (_label, build) => {
    const jar = createCookieJar();
    const app = await fixtures.createClient();
    const tokens = await login(jar, app);
    const response = await jar.fetch(await build(tokens, app), { headers: { accept: 'text/html' } });
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    expect(await response.text()).toContain('Something went wrong');
  });
});
