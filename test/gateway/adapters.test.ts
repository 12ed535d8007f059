import { fetchFrom } from '../support/local-address.ts';
import { ORDERS, ORDERS_HOST, startGateway, verifyIdentity, type GatewayFixture } from './gateway-fixture.ts';
import { json } from '../support/server.ts';

const APP_HOST = 'dashboard.example.test';

let f: GatewayFixture;
let reader: { clientId: string; token: string };
let send: ReturnType<typeof fetchFrom>;

beforeAll(async () => {
  f = await startGateway({
    async setup(services) {
      await services.apis.create({ identifier: ORDERS, scopes: ['orders:read', 'orders:write'] });
      await services.routes.add({ host: ORDERS_HOST, path: '/orders/:id', methods: ['GET'], api: ORDERS, scopes: ['orders:read'] });
      await services.routes.add({ host: ORDERS_HOST, path: '/orders', methods: ['POST'], api: ORDERS, scopes: ['orders:write'] });
      await services.routes.add({ host: APP_HOST, path: '/*', api: ORDERS, login: true });
    },
  });
  reader = await f.serviceToken(['orders:read']);
  // node:http, so that Host can be set as a gateway sets it.
  send = fetchFrom('127.0.0.1');
});
afterAll(async () => {
  send?.close();
  await f?.close();
});

/**
 * Traefik's ForwardAuth middleware (doc.traefik.io, middlewares/http/forwardauth):
 * "The following request properties are provided to the forward-auth target endpoint as
 * X-Forwarded- headers. HTTP Method: X-Forwarded-Method; Protocol: X-Forwarded-Proto; Host:
 * X-Forwarded-Host; Request URI: X-Forwarded-Uri; Source IP-Address: X-Forwarded-For."
 * "If the service answers with a 2XX code, access is granted, and the original request is
 * performed. Otherwise, the response from the authentication server is returned."
 * Caddy's forward_auth (caddyserver.com/docs/caddyfile/directives/forward_auth): "This directive
 * makes a GET request to the configured upstream with the uri rewritten", with the same
 * X-Forwarded-Method and X-Forwarded-Uri. Both send the original request's other headers along.
 */
describe('GET /edge/v1/forward-auth (Traefik forwardAuth, Caddy forward_auth)', () => {
  const traefik = (method: string, uri: string, extra: Record<string, string> = {}, host = ORDERS_HOST) =>
    send(`${f.server.url}/edge/v1/forward-auth`, {
      headers: {
        'x-forwarded-method': method,
        'x-forwarded-proto': 'https',
        'x-forwarded-host': host,
        'x-forwarded-uri': uri,
        'x-forwarded-for': '203.0.113.9',
        ...extra,
      },
    });

  it('allows with 200 and the identity headers Traefik copies with authResponseHeaders', async () => {
    const response = await traefik('GET', '/orders/42?fields=total', { authorization: `Bearer ${reader.token}` });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-auth-request-client-id')).toBe(reader.clientId);
    expect((await verifyIdentity(f.server, response.headers.get('x-auth-request-identity')!)).payload.sub).toBe(reader.clientId);
  });

  it('takes the end user in X-Forwarded-For as data about the protected request, not as the caller (the caller is the TCP peer)', async () => {
    expect((await traefik('GET', '/orders/42', { authorization: `Bearer ${reader.token}`, 'x-forwarded-for': '198.51.100.7, 203.0.113.9' })).status).toBe(200);
  });

  it('answers 401 invalid_token and 403 insufficient_scope, which Traefik returns to the client as they are', async () => {
    const missing = await traefik('GET', '/orders/42');
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe(`Bearer realm="${ORDERS}", error="invalid_token", error_description="an access token is required"`);
    const scope = await traefik('POST', '/orders', { authorization: `Bearer ${reader.token}` });
    expect(scope.status).toBe(403);
    expect(await json(scope)).toEqual({ error: 'insufficient_scope', error_description: 'this route needs the scope orders:write' });
  });

  it('redirects a browser without credentials on a --login route to the edge sign-in, with the original URL to return to', async () => {
    const response = await traefik('GET', '/reports?year=2026', {}, APP_HOST);
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe(`${f.server.issuer}/edge/v1/sign-in`);
    expect(location.searchParams.get('rd')).toBe(`https://${APP_HOST}/reports?year=2026`);
  });

  it('refuses a call without X-Forwarded-Host, since Traefik always sends it (403 access_denied)', async () => {
    const response = await send(`${f.server.url}/edge/v1/forward-auth`, {
      headers: { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/orders/1', authorization: `Bearer ${reader.token}` },
    });
    expect(response.status).toBe(403);
    expect(await json(response)).toEqual({ error: 'access_denied', error_description: 'the original host is missing (x-forwarded-host)' });
  });
});

/**
 * Envoy's HTTP ext_authz service (envoy.extensions.filters.http.ext_authz.v3.HttpService):
 * `path_prefix`: "Sets a prefix to the value of authorization request header Path."
 * AuthorizationRequest: "In addition to the user's supplied matchers, Host, Method, Path,
 * Content-Length, and Authorization are automatically included to the list."
 * "On authorization response status HTTP 200 OK, the filter will allow traffic to the upstream
 * ... On other authorization response statuses, the filter will not allow traffic."
 * So the check request carries the original method, `path_prefix` + the original path (with its
 * query), the original Host, and Content-Length: 0.
 */
describe('/edge/v1/ext-authz/<original path> (Envoy ext_authz, path_prefix: /edge/v1/ext-authz)', () => {
  const envoy = (method: string, path: string, extra: Record<string, string> = {}, host = ORDERS_HOST) =>
    send(`${f.server.url}/edge/v1/ext-authz${path}`, { method, headers: { host, 'content-length': '0', 'x-forwarded-proto': 'https', ...extra } });

  it('allows GET /orders/42 with the original method, path and Host', async () => {
    const response = await envoy('GET', '/orders/42?x=1', { authorization: `Bearer ${reader.token}` });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-auth-request-scope')).toBe('orders:read');
  });

  it('decides a POST by its own method: 403 without orders:write', async () => {
    const response = await envoy('POST', '/orders', { authorization: `Bearer ${reader.token}` });
    expect(response.status).toBe(403);
    expect(response.headers.get('www-authenticate')).toBe(
      `Bearer realm="${ORDERS}", error="insufficient_scope", error_description="this route needs the scope orders:write", scope="orders:write"`,
    );
  });

  it('answers 401 without a token, and redirects a browser on a --login route (Envoy passes Location on)', async () => {
    expect((await envoy('DELETE', '/orders/42')).status).toBe(403);
    expect((await envoy('GET', '/orders/42')).status).toBe(401);
    const redirect = await envoy('GET', '/', {}, APP_HOST);
    expect(redirect.status).toBe(302);
    expect(new URL(redirect.headers.get('location')!).searchParams.get('rd')).toBe(`https://${APP_HOST}/`);
  });

  it('refuses the prefix alone, with no original path (403 access_denied)', async () => {
    const response = await send(`${f.server.url}/edge/v1/ext-authz`, { headers: { host: ORDERS_HOST, authorization: `Bearer ${reader.token}` } });
    expect(response.status).toBe(403);
    expect((await json(response)).error).toBe('access_denied');
  });
});

describe('GET /edge/v1/auth-request on a --login route (nginx cannot redirect from auth_request)', () => {
  it('answers 401 with the sign-in URL in X-Gatehouse-Sign-In, for `error_page 401 = @sign_in`', async () => {
    const response = await send(`${f.server.url}/edge/v1/auth-request`, {
      headers: { 'x-original-method': 'GET', 'x-original-uri': '/a b'.replace(' ', '%20'), 'x-original-host': APP_HOST, 'x-original-proto': 'http' },
    });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(
      `Bearer realm="${ORDERS}", error="invalid_token", error_description="an access token or a sign-in is required"`,
    );
    const signIn = new URL(response.headers.get('x-gatehouse-sign-in')!);
    expect(signIn.searchParams.get('rd')).toBe(`http://${APP_HOST}/a%20b`);
  });

  it('still answers 401 invalid_token, not a redirect, to a bad token on a --login route', async () => {
    const response = await send(`${f.server.url}/edge/v1/forward-auth`, {
      headers: {
        'x-forwarded-method': 'GET',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': APP_HOST,
        'x-forwarded-uri': '/',
        authorization: 'Bearer nope',
      },
    });
    expect(response.status).toBe(401);
    expect(response.headers.get('location')).toBeNull();
  });
});

describe('GET /edge/v1/sign-in and /edge/v1/callback', () => {
  it('starts a code flow with PKCE, state and nonce as the edge client, keeping them in a cookie for the callback alone', async () => {
    const response = await fetch(`${f.server.url}/edge/v1/sign-in?rd=${encodeURIComponent(`https://${APP_HOST}/reports?year=2026`)}`, { redirect: 'manual' });
    expect(response.status).toBe(303);
    const authorize = new URL(response.headers.get('location')!);
    expect(`${authorize.origin}${authorize.pathname}`).toBe(`${f.server.issuer}/auth`);
    expect(Object.fromEntries(authorize.searchParams)).toEqual({
      client_id: 'gatehouse-edge',
      response_type: 'code',
      redirect_uri: `${f.server.issuer}/edge/v1/callback`,
      scope: 'openid profile email',
      state: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      nonce: expect.any(String),
      code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      code_challenge_method: 'S256',
      claims: JSON.stringify({ id_token: { email: null, name: null, preferred_username: null } }),
    });
    expect(response.headers.get('set-cookie')).toMatch(
      new RegExp(`^gatehouse_edge_signin\\.${authorize.searchParams.get('state')}=v1\\.[^;]+; Path=/edge/v1/callback; Max-Age=600; HttpOnly; SameSite=Lax$`),
    );
  });

  it('refuses a return URL on a host no route names, or not http(s), with 400 and no redirect', async () => {
    for (const rd of ['https://evil.example.net/', 'javascript:alert(1)', `//${APP_HOST}/`, `https://user:pw@${APP_HOST}/`]) {
      const response = await fetch(`${f.server.url}/edge/v1/sign-in?rd=${encodeURIComponent(rd)}`, { redirect: 'manual' });
      expect([response.status, response.headers.get('location')]).toEqual([400, null]);
    }
  });

  it('refuses a callback for a sign-in this browser did not start (no state cookie), with 400', async () => {
    const response = await fetch(`${f.server.url}/edge/v1/callback?code=abc&state=${'s'.repeat(43)}&iss=${encodeURIComponent(f.server.issuer)}`, {
      redirect: 'manual',
    });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('This sign-in expired or was not started in this browser.');
  });

  it('has registered the edge client as a first-party public client with only its own callback', async () => {
    const client = await f.database.db.client.findUniqueOrThrow({ where: { id: 'gatehouse-edge' } });
    expect(client.firstParty).toBe(true);
    expect(client.metadata).toMatchObject({
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      redirect_uris: [`${f.server.issuer}/edge/v1/callback`],
    });
  });
});
