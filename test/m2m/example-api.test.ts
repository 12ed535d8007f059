import { SignJWT, generateKeyPair } from 'jose';
import { startExampleApi } from '../../apps/example-api/example-api.ts';
import { clientCredentials, startM2m, type M2mFixture } from './m2m-fixture.ts';

const ORDERS = 'https://orders.example.test';
const BILLING = 'https://billing.example.test';

let f: M2mFixture;
let api: Awaited<ReturnType<typeof startExampleApi>>;
let reader: { clientId: string; clientSecret: string };
let billing: { clientId: string; clientSecret: string };

const tokenFor = async (client: { clientId: string; clientSecret: string }, scope: string) => {
  const result = await clientCredentials(f, client, { scope });
  if (!result.ok) throw new Error(result.error);
  return result.token.access_token;
};
const call = (path: string, token?: string, method = 'GET') =>
  fetch(`${api.url}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });

beforeAll(async () => {
  f = await startM2m();
  await f.services.apis.create({ identifier: ORDERS, scopes: 'orders:read orders:write', ttl: 60 });
  await f.services.apis.create({ identifier: BILLING, scopes: 'orders:read' });
  reader = await f.serviceClient({ resources: [{ identifier: ORDERS, scopes: ['orders:read'] }] });
  billing = await f.serviceClient({ resources: [{ identifier: BILLING }] });
  api = await startExampleApi({ issuer: f.server.issuer, audience: ORDERS });
});
afterAll(async () => {
  await api.close();
  await f.close();
});

describe('the example API (a resource server verifying RFC 9068 tokens)', () => {
  it('serves a route to a token with its scope', async () => {
    const response = await call('/orders', await tokenFor(reader, 'orders:read'));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ caller: reader.clientId });
  });

  it('answers a missing token with 401 and a Bearer challenge', async () => {
    const response = await call('/orders');
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="example-api"');
  });

  it('answers a token without the route\'s scope with 403 insufficient_scope', async () => {
    const response = await call('/orders', await tokenFor(reader, 'orders:read'), 'POST');
    expect(response.status).toBe(403);
    expect(response.headers.get('www-authenticate')).toMatch(/error="insufficient_scope".*scope="orders:write"/);
  });

  it('answers a token for another audience with 401 invalid_token', async () => {
    const response = await call('/orders', await tokenFor(billing, 'orders:read'));
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    expect(((await response.json()) as { error_description: string }).error_description).toBe('the access token is for another audience');
  });

  it('answers an expired token with 401 invalid_token', async () => {
    const token = await tokenFor(reader, 'orders:read');
    const later = await startExampleApi({ issuer: f.server.issuer, audience: ORDERS, clock: () => new Date(Date.now() + 120_000) });
    try {
      const response = await fetch(`${later.url}/orders`, { headers: { authorization: `Bearer ${token}` } });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
      expect(((await response.json()) as { error_description: string }).error_description).toBe('the access token expired');
    } finally {
      await later.close();
    }
  });

  it('answers a token signed by someone else with 401 invalid_token', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT({ scope: 'orders:read', client_id: 'x' }).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'forged' })
      .setIssuer(f.server.issuer).setAudience(ORDERS).setSubject('x').setIssuedAt().setExpirationTime('5m').sign(privateKey);
    const response = await call('/orders', forged);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
  });

  it('refuses an ID-token-shaped JWT (typ other than at+jwt) with 401 invalid_token', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const wrongTyp = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setIssuer(f.server.issuer).setAudience(ORDERS).setExpirationTime('5m').sign(privateKey);
    expect((await call('/orders', wrongTyp)).status).toBe(401);
  });
});
