import * as client from 'openid-client';
import { createCookieJar } from '../support/cookie-jar.ts';
import { PASSWORD, signIn, startSsoServer } from '../support/sso.ts';

let sso: Awaited<ReturnType<typeof startSsoServer>>;

beforeAll(async () => {
  sso = await startSsoServer();
});
afterAll(() => sso?.close());

describe('pushed authorization requests (RFC 9126)', () => {
  it('advertises the endpoint and does not require it', async () => {
    const metadata = (await (await fetch(`${sso.server.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(metadata.pushed_authorization_request_endpoint).toBe(`${sso.server.issuer}/request`);
    // Absent means false (RFC 9126 §5): plain authorization requests still work.
    expect(metadata.require_pushed_authorization_requests).toBeUndefined();
  });

  it('signs a person in from a request the client pushed first, with openid-client', async () => {
    const app = await sso.fixtures.createClient();
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = await client.buildAuthorizationUrlWithPAR(app.config, {
      redirect_uri: app.redirectUri,
      scope: 'openid email',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    expect([...url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
    const { callback } = await signIn(createCookieJar(), url, { email: 'ada@example.com', password: PASSWORD, consent: 'allow' });
    const tokens = await client.authorizationCodeGrant(app.config, new URL(callback!), { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.claims()).toMatchObject({ iss: sso.server.issuer, aud: app.clientId });
  });

  it('refuses to push for a client with a wrong secret, with 401 invalid_client', async () => {
    const app = await sso.fixtures.createClient();
    const response = await fetch(`${sso.server.issuer}/request`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${app.clientId}:wrong`).toString('base64')}` },
      body: new URLSearchParams({ response_type: 'code', redirect_uri: app.redirectUri, scope: 'openid' }),
    });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toBe('invalid_client');
  });
});
