import * as client from 'openid-client';
import { createServices } from '../../apps/core/services.ts';
import { createCookieJar } from '../support/cookie-jar.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { startTestServer, testSecrets, type TestServer, json } from '../support/server.ts';
import { authorizationRequest, PASSWORD, signIn, ssoFixtures } from '../support/sso.ts';

let t: TestDatabase;
let a: TestServer;
let b: TestServer;

beforeAll(async () => {
  t = await createTestDatabase();
  const secrets = testSecrets();
  const env = { KEY_REFRESH_INTERVAL: '1' };
  a = await startTestServer({ databaseUrl: t.url, secrets, env });
  b = await startTestServer({ databaseUrl: t.url, secrets, env });
});
afterAll(async () => {
  await a.close();
  await b.close();
  await t.drop();
});

const kids = async (server: TestServer) => ((await json(await fetch(`${server.url}/jwks`))).keys as Array<{ kid: string }>).map((k) => k.kid).sort();

describe('two instances sharing one PostgreSQL', () => {
  it('introspects at one instance an opaque token issued by the other', async () => {
    const { clients } = createServices({ config: a.config, secrets: a.secrets, db: t.db });
    const { clientId, clientSecret } = await clients.create({ name: 'shared', grantTypes: ['client_credentials'], scope: 'openid' });
    const authorization = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`;
    const headers = { 'content-type': 'application/x-www-form-urlencoded', authorization };

    const issued = await fetch(`${a.url}/token`, { method: 'POST', body: 'grant_type=client_credentials', headers });
    expect(issued.status).toBe(200);
    const { access_token } = await json(issued);

    const introspected = await fetch(`${b.url}/token/introspection`, {
      method: 'POST',
      body: new URLSearchParams({ token: access_token }).toString(),
      headers,
    });
    expect(introspected.status).toBe(200);
    expect(await json(introspected)).toMatchObject({ active: true, client_id: clientId });
  });

  it('redeems at one instance a code issued by the other, for an access token both answer UserInfo for', async () => {
    const user = await ssoFixtures(a).createUser('ada@example.com');
    const created = await ssoFixtures(a).createClient({ firstParty: true });
    const configAt = (s: TestServer) =>
      client.discovery(new URL(s.issuer), created.clientId, undefined, client.ClientSecretBasic(created.clientSecret!), {
        execute: [client.allowInsecureRequests],
      });
    const request = await authorizationRequest(await configAt(a), created.redirectUri);
    const { callback } = await signIn(createCookieJar(), request.url, { email: 'ada@example.com', password: PASSWORD });
    const issuedAtA = new URL(callback!);
    // B has its own issuer; the code and its grant live only in PostgreSQL.
    issuedAtA.searchParams.set('iss', b.issuer);
    const tokens = await client.authorizationCodeGrant(await configAt(b), issuedAtA, {
      pkceCodeVerifier: request.verifier,
      expectedState: request.state,
      expectedNonce: request.nonce,
      idTokenExpected: false,
    });
    for (const server of [a, b])
      expect(await client.fetchUserInfo(await configAt(server), tokens.access_token, user.id)).toMatchObject({ sub: user.id, email: 'ada@example.com' });
  });

  it('publishes a key rotated through the database at both instances without a restart', async () => {
    const before = await kids(a);
    expect(await kids(b)).toEqual(before);

    const { keys } = createServices({ config: a.config, secrets: a.secrets, db: t.db });
    await keys.rotate();
    const expected = (await keys.list()).map((k) => k.kid).sort();
    expect(expected).toHaveLength(4);

    // Each instance re-reads the keys every KEY_REFRESH_INTERVAL (1 s here).
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && ((await kids(a)).length < 4 || (await kids(b)).length < 4)) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await kids(a)).toEqual(expected);
    expect(await kids(b)).toEqual(expected);

    // Published as "next", the new key does not sign yet: a JWT access token still names the old one.
    const { apis, clients } = createServices({ config: a.config, secrets: a.secrets, db: t.db });
    await apis.create({ identifier: 'https://orders.example.test', scopes: ['orders:read'] });
    const { clientId, clientSecret } = await clients.create({ name: 'jwt', grantTypes: ['client_credentials'], scope: 'orders:read' });
    await apis.grantClient({ clientId, identifier: 'https://orders.example.test', scopes: ['orders:read'] });
    const current = (await keys.list()).filter((k) => k.state === 'current').map((k) => k.kid);
    for (const server of [a, b]) {
      const res = await fetch(`${server.url}/token`, {
        method: 'POST',
        body: 'grant_type=client_credentials&resource=https%3A%2F%2Forders.example.test',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
        },
      });
      const body = await json(res);
      expect(body).toMatchObject({ access_token: expect.any(String) });
      const { access_token } = body;
      const header = JSON.parse(Buffer.from(access_token.split('.')[0], 'base64url').toString());
      expect(current).toContain(header.kid);
      expect(before).toContain(header.kid);
    }
  });
});
