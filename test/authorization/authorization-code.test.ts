import * as client from 'openid-client';
import { createCookieJar } from '../support/cookie-jar.ts';
import type { TestServer } from '../support/server.ts';
import { authorizationRequest, PASSWORD, signIn, type ssoFixtures, startSsoServer } from '../support/sso.ts';

let sso: Awaited<ReturnType<typeof startSsoServer>>;
let server: TestServer;
let fixtures: ReturnType<typeof ssoFixtures>;

beforeAll(async () => {
  sso = await startSsoServer();
  ({ server, fixtures } = sso);
});
afterAll(() => sso?.close());

describe('authorization code flow with PKCE', () => {
  it('signs a person in through the login and consent pages and issues tokens with their claims', async () => {
    const app = await fixtures.createClient();
    const request = await authorizationRequest(app.config, app.redirectUri);
    const { callback, pages } = await signIn(createCookieJar(), request.url, { email: 'ada@example.com', password: PASSWORD, consent: 'allow' });
    expect(pages.map((p) => p.status)).toEqual([200, 200]);
    expect(pages[0].html).toContain('Sign in');
    expect(pages[1].html).toContain('See your email address');
    const callbackUrl = new URL(callback!);
    expect(callbackUrl.searchParams.get('iss')).toBe(server.issuer);
    expect(callbackUrl.searchParams.get('state')).toBe(request.state);

    const tokens = await client.authorizationCodeGrant(app.config, callbackUrl, {
      pkceCodeVerifier: request.verifier,
      expectedState: request.state,
      expectedNonce: request.nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims()!;
    // With response_type=code the scope's claims come from UserInfo, not the ID token (OIDC Core 5.4).
    expect(claims).toMatchObject({ iss: server.issuer, aud: app.clientId, nonce: request.nonce });
    expect(claims.email).toBeUndefined();
    expect(tokens.refresh_token).toBeUndefined();

    const info = await client.fetchUserInfo(app.config, tokens.access_token, claims.sub);
    expect(info).toMatchObject({ sub: claims.sub, email: 'ada@example.com', email_verified: true, given_name: 'Ada' });
  });

  it('returns the code in a self-submitting form for response_mode=form_post, allowed by the page CSP', async () => {
    const app = await fixtures.createClient();
    const jar = createCookieJar();
    const request = await authorizationRequest(app.config, app.redirectUri, { response_mode: 'form_post' });
    const { pages } = await signIn(jar, request.url, { email: 'ada@example.com', password: PASSWORD, consent: 'allow' });
    const formPost = pages.at(-1)!;
    expect(formPost.html).toContain(`action="${app.redirectUri}"`);
    expect(formPost.html).toMatch(/name="code" value="[^"]+"/);
    expect(formPost.html).toContain(`name="iss" value="${server.issuer}"`);
    expect(formPost.html).toContain(`name="state" value="${request.state}"`);
  });

  it('refuses a public client that sends no PKCE challenge', async () => {
    const app = await fixtures.createClient({ authMethod: 'none' });
    const url = client.buildAuthorizationUrl(app.config, { redirect_uri: app.redirectUri, scope: 'openid', state: 'st' });
    const response = await fetch(url, { redirect: 'manual' });
    const location = new URL(response.headers.get('location')!);
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('error_description')).toMatch(/PKCE/);
  });

  it('refuses the plain PKCE method', async () => {
    const app = await fixtures.createClient({ authMethod: 'none' });
    const url = client.buildAuthorizationUrl(app.config, {
      redirect_uri: app.redirectUri,
      scope: 'openid',
      code_challenge: 'a'.repeat(43),
      code_challenge_method: 'plain',
    });
    const response = await fetch(url, { redirect: 'manual' });
    expect(new URL(response.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
  });

  async function codeFor(app: Awaited<ReturnType<typeof fixtures.createClient>>) {
    const request = await authorizationRequest(app.config, app.redirectUri);
    const { callback } = await signIn(createCookieJar(), request.url, { email: 'ada@example.com', password: PASSWORD, consent: 'allow' });
    return { request, callback: new URL(callback!) };
  }

  it.each([
    ['a wrong code_verifier', 'x'.repeat(43)],
    ['a missing code_verifier', undefined],
  ])('rejects %s with invalid_grant', async (_label, verifier) => {
    const app = await fixtures.createClient();
    const { request, callback } = await codeFor(app);
    const error = await client.authorizationCodeGrant(app.config, callback, { pkceCodeVerifier: verifier, expectedState: request.state }).catch((e) => e);
    expect(error.error).toBe('invalid_grant');
    expect(error.status).toBe(400);
  });

  it('rejects a second redemption of the same code with invalid_grant and revokes what the first issued', async () => {
    const app = await fixtures.createClient();
    const { request, callback } = await codeFor(app);
    const checks = { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce };
    const first = await client.authorizationCodeGrant(app.config, callback, checks);
    const second = await client.authorizationCodeGrant(app.config, callback, checks).catch((e) => e);
    expect(second.error).toBe('invalid_grant');
    const userinfo = await fetch(`${server.url}/me`, { headers: { authorization: `Bearer ${first.access_token}` } });
    expect(userinfo.status).toBe(401);
    expect(userinfo.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
  });

  it("rejects client A's code presented by client B with invalid_grant", async () => {
    const a = await fixtures.createClient();
    const b = await fixtures.createClient({ redirectUris: [a.redirectUri] });
    const { request, callback } = await codeFor(a);
    const error = await client.authorizationCodeGrant(b.config, callback, { pkceCodeVerifier: request.verifier, expectedState: request.state }).catch((e) => e);
    expect(error.error).toBe('invalid_grant');
  });

  it('answers UserInfo over POST with a Bearer token too', async () => {
    const app = await fixtures.createClient();
    const { request, callback } = await codeFor(app);
    const tokens = await client.authorizationCodeGrant(app.config, callback, {
      pkceCodeVerifier: request.verifier,
      expectedState: request.state,
      expectedNonce: request.nonce,
    });
    const response = await fetch(`${server.url}/me`, { method: 'POST', headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ sub: tokens.claims()!.sub, email: 'ada@example.com' });
  });

  it('puts essential claims asked for with the claims parameter into the ID token', async () => {
    const app = await fixtures.createClient();
    const request = await authorizationRequest(app.config, app.redirectUri, {
      scope: 'openid',
      claims: JSON.stringify({ id_token: { email: { essential: true } } }),
    });
    const { callback, pages } = await signIn(createCookieJar(), request.url, { email: 'ada@example.com', password: PASSWORD, consent: 'allow' });
    expect(pages[1].html).toContain('See your email address');
    const tokens = await client.authorizationCodeGrant(app.config, new URL(callback!), {
      pkceCodeVerifier: request.verifier,
      expectedState: request.state,
      expectedNonce: request.nonce,
    });
    expect(tokens.claims()).toMatchObject({ email: 'ada@example.com' });
    expect(tokens.claims()!.name).toBeUndefined();
  });
});
