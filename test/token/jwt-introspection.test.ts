import { SignJWT, generateKeyPair } from 'jose';
import { startTestServer, type TestServer } from '../support/server.ts';
import { basic, clientCredentials, postForm, startM2m, type M2mFixture } from '../support/m2m.ts';

const ORDERS = 'https://orders.example.test';

type Secret = { clientId: string; clientSecret: string };
let f: M2mFixture;
let caller: Secret;
let otherCaller: Secret;
let ordersServer: Secret;

const jwtFor = async (client: Secret) => {
  const result = await clientCredentials(f, client, { resource: ORDERS, scope: 'orders:read' });
  if (!result.ok) throw new Error(result.error);
  return result.token.access_token;
};
const introspect = (token: string, as: Secret, base = f.server.issuer) =>
  postForm(`${base}/token/introspection`, new URLSearchParams({ token }), { authorization: basic(as.clientId, as.clientSecret) });
const revoke = (token: string, as: Secret) =>
  postForm(`${f.server.issuer}/token/revocation`, new URLSearchParams({ token }), { authorization: basic(as.clientId, as.clientSecret) });

beforeAll(async () => {
  f = await startM2m({ REVOCATION_REFRESH_INTERVAL: '1' });
  await f.services.apis.create({ identifier: ORDERS, scopes: 'orders:read orders:write' });
  caller = await f.serviceClient({ resources: [{ identifier: ORDERS }] });
  otherCaller = await f.serviceClient({ resources: [{ identifier: ORDERS }] });
  ordersServer = await f.serviceClient();
  await f.services.apis.addResourceServer({ clientId: ordersServer.clientId, identifier: ORDERS });
});
afterAll(() => f.close());

describe('POST /token/introspection of a JWT access token (RFC 7662; regression: 400 unsupported_token_type)', () => {
  it("shows it active, with its claims, to the API's resource server", async () => {
    const token = await jwtFor(caller);
    const { status, json } = await introspect(token, ordersServer);
    expect(status).toBe(200);
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
    expect(json).toEqual({
      active: true,
      client_id: caller.clientId,
      iss: f.server.issuer,
      aud: ORDERS,
      scope: 'orders:read',
      exp: claims.exp,
      iat: claims.iat,
      token_type: 'Bearer',
    });
  });

  it('shows it to the client that holds it', async () => {
    expect((await introspect(await jwtFor(caller), caller)).json.active).toBe(true);
  });

  it('answers active: false to another client that may only call the API', async () => {
    expect((await introspect(await jwtFor(caller), otherCaller)).json).toEqual({ active: false });
  });

  it("answers active: false for a JWT signed by another key, with Gatehouse's issuer", async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT({ client_id: caller.clientId, scope: 'orders:read' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' })
      .setIssuer(f.server.issuer)
      .setAudience(ORDERS)
      .setSubject(caller.clientId)
      .setJti('forged')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    expect((await introspect(forged, caller)).json).toEqual({ active: false });
  });

  it('answers a token that is not even a JWT or a known token with active: false', async () => {
    expect((await introspect('a.b.c', ordersServer)).json).toEqual({ active: false });
  });
});

describe('POST /token/revocation of a JWT access token (RFC 7009)', () => {
  it('revokes it for its holder: it introspects inactive at once on this instance', async () => {
    const token = await jwtFor(caller);
    expect((await revoke(token, caller)).status).toBe(200);
    expect((await introspect(token, ordersServer)).json).toEqual({ active: false });
  });

  it('is seen by another instance within REVOCATION_REFRESH_INTERVAL', async () => {
    const second: TestServer = await startTestServer({
      databaseUrl: f.database.url,
      secrets: f.server.secrets,
      env: { ISSUER: f.server.issuer, CLIENT_CACHE_TTL: '0', RATE_LIMIT_ENABLED: 'false', REVOCATION_REFRESH_INTERVAL: '1' },
    });
    try {
      const token = await jwtFor(caller);
      expect((await introspect(token, ordersServer, second.running.url)).json.active).toBe(true);
      expect((await revoke(token, caller)).status).toBe(200);
      const deadline = Date.now() + 5000;
      let active = true;
      while (active && Date.now() < deadline) {
        active = (await introspect(token, ordersServer, second.running.url)).json.active as boolean;
        if (active) await new Promise((r) => setTimeout(r, 50));
      }
      expect(active).toBe(false);
    } finally {
      await second.close();
    }
  });

  it('ignores a revocation by anyone but the holder (200, and it stays active)', async () => {
    const token = await jwtFor(caller);
    for (const as of [ordersServer, otherCaller]) expect((await revoke(token, as)).status).toBe(200);
    expect((await introspect(token, ordersServer)).json.active).toBe(true);
  });

  it('answers a JWT that does not verify with 200 (RFC 7009 §2.2) and revokes nothing', async () => {
    expect((await revoke('eyJhbGciOiJub25lIn0.e30.', caller)).status).toBe(200);
  });
});
