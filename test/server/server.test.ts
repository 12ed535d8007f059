import * as oidc from 'openid-client';
import { createServices } from '../../apps/core/services.ts';
import { createTestClock } from '../support/clock.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer, json } from '../support/server.ts';

let t: TestDatabase;
let server: TestServer;
let services: ReturnType<typeof createServices>;
const clock = createTestClock();

beforeAll(async () => {
  t = await createTestDatabase();
  server = await startTestServer({ databaseUrl: t.url, clock });
  services = createServices({ config: server.config, secrets: server.secrets, db: t.db });
});
afterAll(async () => {
  await server.close();
  await t.drop();
});

const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${server.url}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
// Each instance's client cache holds a row for at most CLIENT_CACHE_TTL seconds.
const pastClientCache = () => clock.advance(server.config.clientCacheTtl * 1000);
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

describe('discovery and JWKS', () => {
  it('serves OpenID discovery with every endpoint under the issuer', async () => {
    const res = await fetch(`${server.url}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    const meta = await json(res);
    expect(meta).toMatchObject({
      issuer: server.issuer,
      authorization_endpoint: `${server.issuer}/auth`,
      token_endpoint: `${server.issuer}/token`,
      userinfo_endpoint: `${server.issuer}/me`,
      jwks_uri: `${server.issuer}/jwks`,
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
    });
    expect(meta.id_token_signing_alg_values_supported).toEqual(expect.arrayContaining(['RS256', 'ES256']));
    expect(meta.grant_types_supported).not.toContain('password');
  });

  it('serves RFC 8414 authorization server metadata', async () => {
    const res = await fetch(`${server.url}/.well-known/oauth-authorization-server`);
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ issuer: server.issuer, token_endpoint: `${server.issuer}/token` });
  });

  it('publishes an RS256 and an ES256 public key in JWKS, and no private member', async () => {
    const { keys } = await json(await fetch(`${server.url}/jwks`));
    expect(keys.map((k: { alg: string }) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    for (const key of keys) for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(key).not.toHaveProperty(member);
  });

  it('lets a relying-party library configure itself from discovery', async () => {
    const config = await oidc.discovery(new URL(server.issuer), 'any-client', undefined, undefined, { execute: [oidc.allowInsecureRequests] });
    expect(config.serverMetadata().issuer).toBe(server.issuer);
  });
});

describe('health', () => {
  it('GET /healthz says the process is alive', async () => {
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ status: 'ok' });
  });

  it('GET /readyz says the database is reachable', async () => {
    const res = await fetch(`${server.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ status: 'ready', database: 'ok' });
  });
});

describe('bad input', () => {
  it('answers an unknown route with a 404 JSON body', async () => {
    const res = await fetch(`${server.url}/no/such/route`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(await json(res)).toEqual({ error: 'not_found', error_description: 'no route for GET /no/such/route' });
  });

  it('answers a token request without grant_type with invalid_request', async () => {
    const res = await post('/token', 'foo=bar');
    expect(res.status).toBe(400);
    expect(await json(res)).toMatchObject({ error: 'invalid_request' });
  });

  it('answers an unsupported grant type (password) with unsupported_grant_type', async () => {
    const { clientId, clientSecret } = await services.clients.create({ name: 'pw', grantTypes: ['client_credentials'], scope: 'openid' });
    const res = await post('/token', 'grant_type=password&username=a&password=b', { authorization: basic(clientId, clientSecret!) });
    expect(res.status).toBe(400);
    expect(await json(res)).toMatchObject({ error: 'unsupported_grant_type' });
  });

  it('answers a JSON body at the token endpoint with a 4xx error, not a 500', async () => {
    const res = await fetch(`${server.url}/token`, {
      method: 'POST',
      body: '{"grant_type":"client_credentials"}',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect((await json(res)).error).toEqual(expect.any(String));
  });

  it('answers malformed Basic credentials with invalid_request or invalid_client, never a stack trace', async () => {
    const res = await post('/token', 'grant_type=client_credentials', { authorization: 'Basic %%%' });
    expect([400, 401]).toContain(res.status);
    const text = await res.text();
    expect(text).not.toMatch(/\bat .*\.js:\d+/);
    expect(JSON.parse(text).error).toMatch(/^invalid_(request|client)$/);
  });

  it('answers userinfo without a token with 401 invalid_token', async () => {
    const res = await fetch(`${server.url}/me`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/invalid_token|Bearer/);
  });

  it('answers an authorization request for an unknown client with a 400 and no redirect', async () => {
    const res = await fetch(`${server.url}/auth?client_id=nope&response_type=code&scope=openid&redirect_uri=https%3A%2F%2Fevil.example%2Fcb`, {
      redirect: 'manual',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(await res.text()).not.toMatch(/\bat .*\.js:\d+/);
  });
});

describe('clients from the database', () => {
  it('authenticates a client whose secret is stored only as an HMAC, with client_secret_basic', async () => {
    const { clientId, clientSecret } = await services.clients.create({ name: 'svc', grantTypes: ['client_credentials'], scope: 'openid' });
    const stored = await t.db.clientSecret.findMany({ where: { clientId } });
    expect(stored).toHaveLength(1);
    expect(JSON.stringify(stored)).not.toContain(clientSecret);
    expect(clientSecret!.length).toBeGreaterThanOrEqual(43);

    const config = await oidc.discovery(new URL(server.issuer), clientId, clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
    const tokens = await oidc.clientCredentialsGrant(config);
    expect(tokens.access_token).toEqual(expect.any(String));
    expect(tokens.token_type).toMatch(/bearer/i);
  });

  it('authenticates with client_secret_post', async () => {
    const { clientId, clientSecret } = await services.clients.create({
      name: 'post',
      grantTypes: ['client_credentials'],
      authMethod: 'client_secret_post',
      scope: 'openid',
    });
    const res = await post('/token', new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret! }).toString());
    expect(res.status).toBe(200);
  });

  it('answers a wrong secret with 401 invalid_client', async () => {
    const { clientId } = await services.clients.create({ name: 'wrong', grantTypes: ['client_credentials'], scope: 'openid' });
    const res = await post('/token', 'grant_type=client_credentials', { authorization: basic(clientId, 'not-the-secret') });
    expect(res.status).toBe(401);
    expect(await json(res)).toMatchObject({ error: 'invalid_client' });
  });

  it('keeps both the old and the new secret working after a rotation, until the old one expires', async () => {
    const { clientId, clientSecret: first } = await services.clients.create({ name: 'rotating', grantTypes: ['client_credentials'], scope: 'openid' });
    const { clientSecret: second } = await services.clients.rotateSecret(clientId, 3600);
    pastClientCache();
    for (const secret of [first!, second]) {
      const res = await post('/token', 'grant_type=client_credentials', { authorization: basic(clientId, secret) });
      expect(res.status).toBe(200);
    }

    await t.db.clientSecret.updateMany({ where: { clientId, expiresAt: { not: null } }, data: { expiresAt: new Date(Date.now() - 1000) } });
    pastClientCache();
    expect((await post('/token', 'grant_type=client_credentials', { authorization: basic(clientId, first!) })).status).toBe(401);
    expect((await post('/token', 'grant_type=client_credentials', { authorization: basic(clientId, second) })).status).toBe(200);
  });

  it('applies a change to a client’s metadata once its cached row has expired', async () => {
    const { clientId, clientSecret } = await services.clients.create({ name: 'changing', grantTypes: ['client_credentials'], scope: 'openid' });
    for (let i = 0; i < 3; i++)
      expect((await post('/token', 'grant_type=client_credentials', { authorization: basic(clientId, clientSecret!) })).status).toBe(200);

    const row = await t.db.client.findUniqueOrThrow({ where: { id: clientId } });
    const webAppOnly = { grant_types: ['authorization_code'], response_types: ['code'], redirect_uris: ['https://rp.example.test/callback'] };
    await t.db.client.update({ where: { id: clientId }, data: { metadata: { ...(row.metadata as object), ...webAppOnly } } });
    pastClientCache();

    const refused = await post('/token', 'grant_type=client_credentials', { authorization: basic(clientId, clientSecret!) });
    expect(refused.status).toBe(400);
    expect(await json(refused)).toMatchObject({ error: 'unauthorized_client', error_description: 'requested grant type is not allowed for this client' });
  });
});

describe('requests Node refuses to parse', () => {
  it('answers headers over 16 KiB with 431 and an RFC error JSON, not a bare status line', async () => {
    const res = await fetch(`${server.url}/token`, { headers: { 'x-padding': 'a'.repeat(20_000) } });
    expect(res.status).toBe(431);
    expect(await json(res)).toEqual({ error: 'invalid_request', error_description: 'request headers too large' });
  });
});
