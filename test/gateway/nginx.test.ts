import * as oauth from 'oauth4webapi';
import { startExampleApi } from '../../apps/example-api/example-api.ts';
import { fetchFrom } from '../support/local-address.ts';
import { ORDERS, ORDERS_HOST, insecure, startGateway, verifyIdentity, type GatewayFixture } from './gateway-fixture.ts';
import { startEchoUpstream, startNginx, type RunningNginx } from './nginx.ts';

const DASHBOARD_HOST = 'dashboard.example.test';

let f: GatewayFixture;
let nginx: RunningNginx;
let echo: Awaited<ReturnType<typeof startEchoUpstream>>;
let api: Awaited<ReturnType<typeof startExampleApi>>;
let send: ReturnType<typeof fetchFrom>;
let reader: { clientId: string; clientSecret: string; token: string };

/** A client's request to nginx, for one of the hosts it serves. */
const viaNginx = (host: string, path: string, init: { method?: string; headers?: Record<string, string> } = {}) =>
  send(`http://127.0.0.1:${nginx.port}${path}`, { method: init.method ?? 'GET', headers: { host, ...init.headers } });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  f = await startGateway({
    async setup(services) {
      await services.apis.create({ identifier: ORDERS, scopes: ['orders:read', 'orders:write'] });
      // deploy/nginx/gatehouse-edge.conf's routes, and a few for the plain upstream.
      await services.routes.add({ host: ORDERS_HOST, path: '/orders/*', methods: ['GET', 'HEAD'], api: ORDERS, scopes: ['orders:read'] });
      await services.routes.add({ host: ORDERS_HOST, path: '/orders/*', methods: ['POST'], api: ORDERS, scopes: ['orders:write'] });
      await services.routes.add({ host: DASHBOARD_HOST, path: '/api/*', api: ORDERS, scopes: ['orders:read'] });
      await services.routes.add({ host: DASHBOARD_HOST, path: '/public/*', public: true });
      await services.routes.add({ host: DASHBOARD_HOST, path: '/*', api: ORDERS, login: true });
    },
  });
  echo = await startEchoUpstream();
  const gatehousePort = Number(new URL(f.server.url).port);
  api = await startExampleApi({ issuer: f.server.issuer, audience: ORDERS });
  nginx = await startNginx({ gatehouse: gatehousePort, orders: Number(new URL(api.url).port), dashboard: echo.port });
  send = fetchFrom('127.0.0.1');
  reader = await f.serviceToken(['orders:read']);
});
afterAll(async () => {
  send?.close();
  await nginx?.stop();
  await api?.close();
  await echo?.close();
  await f?.close();
});

/**
 * nginx's ngx_http_auth_request_module (nginx.org/r/auth_request): "If the subrequest returns a
 * 2xx response code, the access is allowed. If it returns 401 or 403, the access is denied with
 * the corresponding error code. Any other response code returned by the subrequest is considered
 * an error. For the 401 error, the client also receives the WWW-Authenticate header from the
 * subrequest response." Its example sets `proxy_set_header X-Original-URI $request_uri;` in the
 * auth location; deploy/nginx sets the method, host and scheme the same way.
 */
describe('apps/example-api behind a real nginx with auth_request to Gatehouse (deploy/nginx)', () => {
  it('lets an allowed request through to the API, which verifies the token again itself', async () => {
    const response = await viaNginx(ORDERS_HOST, '/orders', { headers: bearer(reader.token) });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ orders: [], caller: reader.clientId, subject: reader.clientId });
  });

  it("answers 401 without a token, with Gatehouse's challenge passed on by nginx, and the API never asked", async () => {
    const response = await viaNginx(ORDERS_HOST, '/orders');
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(`Bearer realm="${ORDERS}", error="invalid_token", error_description="an access token is required"`);
  });

  it('answers 403 to a token without the route scope', async () => {
    expect((await viaNginx(ORDERS_HOST, '/orders', { method: 'POST', headers: bearer(reader.token) })).status).toBe(403);
  });

  it('answers 401 to a revoked token', async () => {
    const revoked = await f.serviceToken(['orders:read']);
    expect((await viaNginx(ORDERS_HOST, '/orders', { headers: bearer(revoked.token) })).status).toBe(200);
    await oauth.processRevocationResponse(
      await oauth.revocationRequest(f.as, { client_id: revoked.clientId }, oauth.ClientSecretBasic(revoked.clientSecret), revoked.token, insecure),
    );
    expect((await viaNginx(ORDERS_HOST, '/orders', { headers: bearer(revoked.token) })).status).toBe(401);
  });

  it('answers 403 to an encoded traversal nginx passes on raw in $request_uri', async () => {
    expect((await viaNginx(ORDERS_HOST, '/orders/%2e%2e/admin', { headers: bearer(reader.token) })).status).toBe(403);
  });
});

describe('a plain upstream behind nginx: what arrives', () => {
  const echoed = async (response: Response) => (await response.json()) as { headers: Record<string, string> };

  it("receives the identity headers, and an identity JWT that verifies against Gatehouse's JWKS", async () => {
    const response = await viaNginx(DASHBOARD_HOST, '/api/orders', { headers: { ...bearer(reader.token), 'x-auth-request-user': 'someone-else' } });
    expect(response.status).toBe(200);
    const { headers } = await echoed(response);
    expect(headers['x-auth-request-user']).toBe(reader.clientId);
    expect(headers['x-auth-request-client-id']).toBe(reader.clientId);
    expect(headers['x-auth-request-scope']).toBe('orders:read');
    const { payload } = await verifyIdentity(f.server, headers['x-auth-request-identity']);
    expect(payload).toMatchObject({ iss: f.server.issuer, aud: ORDERS, sub: reader.clientId, client_id: reader.clientId, scope: 'orders:read' });
  });

  it('never receives identity headers a client made up, on a public route either', async () => {
    const response = await viaNginx(DASHBOARD_HOST, '/public/logo.svg', {
      headers: { 'x-auth-request-user': 'admin', 'x-auth-request-identity': 'forged', 'x-auth-request-roles': 'admin' },
    });
    expect(response.status).toBe(200);
    const { headers } = await echoed(response);
    expect(Object.keys(headers).filter((name) => name.startsWith('x-auth-request-'))).toEqual([]);
  });

  it('sends a browser without a session on a --login route to the sign-in, through error_page 401 = @gatehouse_sign_in', async () => {
    const response = await viaNginx(DASHBOARD_HOST, '/reports?year=2026');
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe(`${f.server.issuer}/edge/v1/sign-in`);
    expect(location.searchParams.get('rd')).toBe(`http://${DASHBOARD_HOST}/reports?year=2026`);
  });

  it('keeps a bad token on a --login route a 401, not a redirect', async () => {
    const response = await viaNginx(DASHBOARD_HOST, '/reports', { headers: bearer('not-a-token') });
    expect(response.status).toBe(401);
  });

  it("leaves nothing in nginx's error log but what it logs for denials", async () => {
    expect(
      (await nginx.errors()).split('\n').filter((line) => / \[(emerg|alert|crit|error)\] /.test(line) && !line.includes('auth request unexpected status')),
    ).toEqual([]);
  });
});
