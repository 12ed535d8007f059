import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import { ORDERS, ORDERS_HOST, nginxHeaders, startGateway, verifyIdentity, type GatewayFixture } from './gateway-fixture.ts';
import { json } from '../support/server.ts';

const LEDGER = 'https://ledger.example.test';

let f: GatewayFixture;
let reader: { clientId: string; token: string };
let writer: { clientId: string; token: string };

/**
 * The nginx adapter, asked as nginx's auth_request asks: a subrequest carrying the client's own
 * headers (Authorization, DPoP) and the ones deploy/nginx/gatehouse-location.conf sets, after the
 * module's own example ("proxy_set_header X-Original-URI $request_uri;", nginx.org/r/auth_request).
 */
const ask = (method: string, uri: string, extra: Record<string, string> = {}, host = ORDERS_HOST) =>
  fetch(`${f.server.url}/edge/v1/auth-request`, { headers: nginxHeaders(method, uri, host, extra) });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function expectDenied(response: Response, status: number, error: string, challenge = 'Bearer') {
  expect(response.status).toBe(status);
  expect(await json(response)).toEqual({ error, error_description: expect.any(String) });
  if (error === 'access_denied') expect(response.headers.get('www-authenticate')).toBeNull();
  else expect(response.headers.get('www-authenticate')).toMatch(new RegExp(`^${challenge} realm="${ORDERS}", error="${error}", error_description="[^"]+"`));
}

beforeAll(async () => {
  f = await startGateway({
    // Roles are read fresh for every decision, so a role assigned in a test is in force at once.
    env: { AUTHZ_CACHE_TTL: '0' },
    async setup(services) {
      await services.apis.create({ identifier: ORDERS, scopes: ['orders:read', 'orders:write'] });
      await services.apis.create({ identifier: LEDGER, scopes: ['ledger:read'], tokenFormat: 'opaque' });
      await services.routes.add({ host: ORDERS_HOST, path: '/orders/*', methods: ['GET', 'HEAD'], api: ORDERS, scopes: ['orders:read'] });
      await services.routes.add({ host: ORDERS_HOST, path: '/orders/*', methods: ['POST'], api: ORDERS, scopes: ['orders:write'] });
      await services.routes.add({ host: ORDERS_HOST, path: '/health', public: true });
      await services.routes.add({ host: ORDERS_HOST, path: '/admin/*', api: ORDERS, roles: ['admin'] });
      await services.routes.add({ host: 'ledger.example.test', path: '/*', api: LEDGER, scopes: ['ledger:read'] });
      await services.routes.add({ host: ORDERS_HOST, path: '/orders/:id/approve', methods: ['POST'], api: ORDERS, decide: 'approve:order' });
      await services.authz.directory.roles.create({ api: ORDERS, name: 'admin' });
      await services.authz.policies.set('permit(principal, action == Action::"approve", resource == order::"7");');
    },
  });
  reader = await f.serviceToken(['orders:read']);
  writer = await f.serviceToken(['orders:read', 'orders:write']);
});
afterAll(() => f?.close());

describe('GET /edge/v1/auth-request: allowed', () => {
  it('answers 200 with the identity headers oauth2-proxy names, for a JWT access token with the route scope', async () => {
    const response = await ask('GET', '/orders/17?expand=lines', bearer(reader.token));
    expect(response.status).toBe(200);
    expect(Object.fromEntries([...response.headers].filter(([name]) => name.startsWith('x-auth-request-') && name !== 'x-auth-request-identity'))).toEqual({
      'x-auth-request-user': reader.clientId,
      'x-auth-request-email': '',
      'x-auth-request-preferred-username': '',
      'x-auth-request-groups': '',
      'x-auth-request-client-id': reader.clientId,
      'x-auth-request-scope': 'orders:read',
      'x-auth-request-roles': '',
    });
    expect(response.headers.get('cache-control')).toBe('no-store');
  });

  it('signs an identity that verifies against the JWKS, lives at most 60 s and names the route API', async () => {
    const response = await ask('GET', '/orders/17', bearer(reader.token));
    const { payload, protectedHeader } = await verifyIdentity(f.server, response.headers.get('x-auth-request-identity')!);
    expect(protectedHeader).toMatchObject({ alg: 'ES256', typ: 'gatehouse-identity+jwt' });
    expect(payload).toEqual({
      iss: f.server.issuer,
      aud: ORDERS,
      sub: reader.clientId,
      client_id: reader.clientId,
      scope: 'orders:read',
      roles: [],
      groups: [],
      iat: expect.any(Number),
      exp: expect.any(Number),
    });
    expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(60);
  });

  it('hands out the same signed identity again rather than signing anew within its life', async () => {
    const first = (await ask('GET', '/orders/1', bearer(reader.token))).headers.get('x-auth-request-identity');
    const second = (await ask('HEAD', '/orders/2', bearer(reader.token))).headers.get('x-auth-request-identity');
    expect(second).toBe(first);
  });

  it('takes an opaque access token for an opaque API', async () => {
    const ledger = await f.serviceToken(['ledger:read'], { api: LEDGER });
    expect(ledger.token.split('.')).toHaveLength(1);
    const response = await ask('GET', '/accounts', bearer(ledger.token), 'ledger.example.test');
    expect(response.status).toBe(200);
    expect((await verifyIdentity(f.server, response.headers.get('x-auth-request-identity')!, LEDGER)).payload.scope).toBe('ledger:read');
  });

  it('lets a public route through with every identity header empty, so a client cannot send its own', async () => {
    const response = await ask('GET', '/health', { 'x-auth-request-user': 'admin' });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-auth-request-user')).toBe('');
    expect(response.headers.get('x-auth-request-identity')).toBe('');
  });
});

describe('GET /edge/v1/auth-request: 401 invalid_token', () => {
  it('without a token', async () => {
    await expectDenied(await ask('GET', '/orders/1'), 401, 'invalid_token');
  });

  it('with an Authorization header that holds no token', async () => {
    await expectDenied(await ask('GET', '/orders/1', { authorization: 'Basic YWxpY2U6c2VjcmV0' }), 401, 'invalid_token');
    await expectDenied(await ask('GET', '/orders/1', { authorization: 'Bearer' }), 401, 'invalid_token');
  });

  it('with a malformed or forged token', async () => {
    await expectDenied(await ask('GET', '/orders/1', bearer('not-a-token')), 401, 'invalid_token');
    const [header, payload] = reader.token.split('.');
    await expectDenied(await ask('GET', '/orders/1', bearer(`${header}.${payload}.${'A'.repeat(86)}`)), 401, 'invalid_token');
  });

  it('with an expired token', async () => {
    const expired = await f.signedAccessToken({
      sub: reader.clientId,
      client_id: reader.clientId,
      aud: ORDERS,
      scope: 'orders:read',
      iat: 1_000_000,
      exp: 1_000_060,
    });
    const response = await ask('GET', '/orders/1', bearer(expired));
    await expectDenied(response.clone(), 401, 'invalid_token');
    expect((await json(response)).error_description).toBe('the access token expired');
  });

  it('with a token for another API', async () => {
    const ledger = await f.serviceToken(['ledger:read'], { api: LEDGER });
    const response = await ask('GET', '/orders/1', bearer(ledger.token));
    await expectDenied(response.clone(), 401, 'invalid_token');
    expect((await json(response)).error_description).toBe('the access token is for another audience');
  });

  it('with a revoked token (RFC 7009 revocation at Gatehouse)', async () => {
    const revoked = await f.serviceToken(['orders:read']);
    expect((await ask('GET', '/orders/1', bearer(revoked.token))).status).toBe(200);
    const response = await oauth.revocationRequest(f.as, { client_id: revoked.clientId }, oauth.ClientSecretBasic(revoked.clientSecret), revoked.token, {
      [oauth.allowInsecureRequests]: true,
    });
    await oauth.processRevocationResponse(response);
    const denied = await ask('GET', '/orders/1', bearer(revoked.token));
    await expectDenied(denied.clone(), 401, 'invalid_token');
    expect((await json(denied)).error_description).toBe('the access token was revoked');
  });
});

describe('GET /edge/v1/auth-request: 403', () => {
  it('insufficient_scope when the token lacks the route scope, naming it in the challenge', async () => {
    const response = await ask('POST', '/orders', bearer(reader.token));
    await expectDenied(response.clone(), 403, 'insufficient_scope');
    expect(response.headers.get('www-authenticate')).toContain('scope="orders:write"');
    expect((await ask('POST', '/orders', bearer(writer.token))).status).toBe(200);
  });

  it('insufficient_scope when the caller lacks the route role; 200, with the roles, once it holds it (read fresh from the directory)', async () => {
    await expectDenied(await ask('GET', '/admin/users', bearer(reader.token)), 403, 'insufficient_scope');
    const admin = await f.serviceToken(['orders:read']);
    await f.services.authz.directory.roles.assign({ api: ORDERS, role: 'admin', client: admin.clientId });
    const response = await ask('GET', '/admin/users', bearer(admin.token));
    expect(response.status).toBe(200);
    expect(response.headers.get('x-auth-request-roles')).toBe('admin');
    expect((await verifyIdentity(f.server, response.headers.get('x-auth-request-identity')!)).payload.roles).toEqual(['admin']);
    // A token's own roles claim is not what decides: the directory is.
    const claimed = await f.signedAccessToken({ sub: reader.clientId, client_id: reader.clientId, aud: ORDERS, scope: '', roles: ['admin'] });
    await expectDenied(await ask('GET', '/admin/users', bearer(claimed)), 403, 'insufficient_scope');
  });

  it('insufficient_scope when the policy decision point denies (--decide approve:order, resource.id from :id)', async () => {
    expect((await ask('POST', '/orders/7/approve', bearer(reader.token))).status).toBe(200);
    await expectDenied(await ask('POST', '/orders/8/approve', bearer(reader.token)), 403, 'insufficient_scope');
  });

  it('access_denied when no route matches, and when the matching path takes no such method', async () => {
    await expectDenied(await ask('GET', '/invoices', bearer(writer.token)), 403, 'access_denied');
    await expectDenied(await ask('GET', '/orders/1', bearer(writer.token), 'unknown.example.test'), 403, 'access_denied');
    await expectDenied(await ask('DELETE', '/orders/1', bearer(writer.token)), 403, 'access_denied');
  });
});

describe('DPoP-bound tokens (RFC 9449) at the edge', () => {
  let keyPair: Awaited<ReturnType<typeof generateKeyPair>>;
  let bound: string;
  const url = `https://${ORDERS_HOST}/orders/5`;
  const proof = async (claims: Record<string, unknown> = {}, key = keyPair) =>
    new SignJWT({ jti: crypto.randomUUID(), htm: 'GET', htu: url, iat: Math.floor(Date.now() / 1000), ath: await athOf(bound), ...claims })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(key.publicKey) })
      .sign(key.privateKey);
  const athOf = async (token: string) => Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token))).toString('base64url');

  beforeAll(async () => {
    keyPair = await generateKeyPair('ES256');
    bound = (await f.serviceToken(['orders:read'], { dpop: oauth.DPoP({}, keyPair) })).token;
  });

  it('allows the bound token with the DPoP scheme and a proof for the original method and URL', async () => {
    const response = await ask('GET', '/orders/5', { authorization: `DPoP ${bound}`, dpop: await proof() });
    expect(response.status).toBe(200);
  });

  it('refuses the bound token as Bearer, even with a valid proof (401 invalid_token, DPoP challenge)', async () => {
    await expectDenied(await ask('GET', '/orders/5', { authorization: `Bearer ${bound}`, dpop: await proof() }), 401, 'invalid_token', 'DPoP');
  });

  it('refuses it without a proof, with a proof for another method, URL, token or key, and a stale one', async () => {
    const other = await generateKeyPair('ES256');
    for (const dpop of [
      undefined,
      await proof({ htm: 'POST' }),
      await proof({ htu: `https://${ORDERS_HOST}/orders/6` }),
      await proof({ htu: `http://${ORDERS_HOST}/orders/5` }),
      await proof({ ath: await athOf(reader.token) }),
      await proof({ iat: Math.floor(Date.now() / 1000) - 600 }),
      await proof({}, other),
    ]) {
      await expectDenied(await ask('GET', '/orders/5', { authorization: `DPoP ${bound}`, ...(dpop && { dpop }) }), 401, 'invalid_dpop_proof', 'DPoP');
    }
  });

  it('refuses a proof used a second time (its jti is remembered for its window)', async () => {
    const once = await proof();
    expect((await ask('GET', '/orders/5', { authorization: `DPoP ${bound}`, dpop: once })).status).toBe(200);
    await expectDenied(await ask('GET', '/orders/5', { authorization: `DPoP ${bound}`, dpop: once }), 401, 'invalid_dpop_proof', 'DPoP');
  });

  it('refuses an unbound token presented with the DPoP scheme', async () => {
    await expectDenied(await ask('GET', '/orders/5', { authorization: `DPoP ${reader.token}`, dpop: await proof() }), 401, 'invalid_token', 'DPoP');
  });
});
