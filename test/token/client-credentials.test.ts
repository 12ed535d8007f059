import { generateKeyPair } from 'jose';
import { basic, clientCredentials, decodeJwt, postForm, signedClient, startM2m, type M2mFixture } from '../support/m2m.ts';

const ORDERS = 'https://orders.example.test';
const BILLING = 'https://billing.example.test';
const OPAQUE = 'https://ledger.example.test';

let f: M2mFixture;
let orders: { clientId: string; clientSecret: string };
let both: { clientId: string; clientSecret: string };

beforeAll(async () => {
  f = await startM2m();
  await f.services.apis.create({ identifier: ORDERS, scopes: 'orders:read orders:write', ttl: 600 });
  await f.services.apis.create({ identifier: BILLING, scopes: ['billing:read'] });
  await f.services.apis.create({ identifier: OPAQUE, scopes: ['ledger:read'], tokenFormat: 'opaque', ttl: 120 });
  orders = await f.serviceClient({ resources: [{ identifier: ORDERS, scopes: ['orders:read'] }] });
  both = await f.serviceClient({ resources: [{ identifier: ORDERS }, { identifier: BILLING }, { identifier: OPAQUE }] });
});
afterAll(() => f.close());

describe('POST /token client_credentials with resource indicators', () => {
  it('issues an RFC 9068 JWT access token for the one API the client is allowed, without a resource parameter', async () => {
    const result = await clientCredentials(f, orders, { scope: 'orders:read' });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.token).toMatchObject({ token_type: 'bearer', scope: 'orders:read', expires_in: 600 });
    const { header, payload } = decodeJwt(result.token.access_token);
    expect(header).toMatchObject({ typ: 'at+jwt', alg: 'ES256' });
    expect(payload).toMatchObject({ iss: f.server.issuer, sub: orders.clientId, aud: ORDERS, client_id: orders.clientId, scope: 'orders:read' });
    expect(typeof payload.jti).toBe('string');
    expect(payload.exp - payload.iat).toBe(600);
  });

  it('audience-restricts the token to the API named by resource', async () => {
    const result = await clientCredentials(f, both, { resource: BILLING, scope: 'billing:read' });
    expect(result.ok && decodeJwt(result.token.access_token).payload.aud).toBe(BILLING);
  });

  it('issues an opaque token, stored only as a digest, for an API that asks for opaque tokens', async () => {
    const result = await clientCredentials(f, both, { resource: OPAQUE, scope: 'ledger:read' });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.token.access_token.split('.')).toHaveLength(1);
    expect(result.token.expires_in).toBe(120);
    const rows = await f.database.db.$queryRaw<
      Array<{ dump: string }>
    >`SELECT row_to_json(p)::text AS dump FROM oidc_payloads p WHERE model = 'ClientCredentials'`;
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(rows.map((r) => r.dump).join()).not.toContain(result.token.access_token);
  });

  it('rejects a scope the client is not allowed on the API with invalid_scope', async () => {
    const result = await clientCredentials(f, orders, { scope: 'orders:write' });
    expect(result).toMatchObject({ ok: false, status: 400, error: 'invalid_scope' });
  });

  it('rejects an unknown resource with invalid_target', async () => {
    const result = await clientCredentials(f, orders, { resource: 'https://unknown.example.test', scope: 'orders:read' });
    expect(result).toMatchObject({ ok: false, status: 400, error: 'invalid_target' });
  });

  it('rejects a resource the client is not allowed with invalid_target', async () => {
    const result = await clientCredentials(f, orders, { resource: BILLING, scope: 'billing:read' });
    expect(result).toMatchObject({ ok: false, status: 400, error: 'invalid_target' });
  });

  it('rejects two resources in one client_credentials request with invalid_target', async () => {
    const body = new URLSearchParams([
      ['grant_type', 'client_credentials'],
      ['resource', ORDERS],
      ['resource', BILLING],
    ]);
    const { status, json } = await postForm(f.as.token_endpoint!, body, { authorization: basic(both.clientId, both.clientSecret) });
    expect(status).toBe(400);
    expect(json.error).toBe('invalid_target');
  });

  it('sees a grant removed from the database at once when the cache is off (the database is the source of truth)', async () => {
    const temp = await f.serviceClient({ resources: [{ identifier: BILLING }] });
    expect((await clientCredentials(f, temp, { scope: 'billing:read' })).ok).toBe(true);
    await f.database.db.clientApi.deleteMany({ where: { clientId: temp.clientId } });
    expect(await clientCredentials(f, temp, { resource: BILLING, scope: 'billing:read' })).toMatchObject({ ok: false, error: 'invalid_target' });
  });
});

describe('POST /token client authentication', () => {
  it('answers an unknown client with 401 invalid_client and a Basic WWW-Authenticate challenge', async () => {
    const result = await clientCredentials(f, { clientId: 'nobody', clientSecret: 'x' }, { scope: 'orders:read' });
    expect(result).toMatchObject({ ok: false, status: 401, error: 'invalid_client' });
    expect(!result.ok && result.wwwAuthenticate).toMatch(/^Basic realm=/);
  });

  it('answers a wrong secret with 401 invalid_client', async () => {
    const result = await clientCredentials(f, { clientId: orders.clientId, clientSecret: 'wrong' }, { scope: 'orders:read' });
    expect(result).toMatchObject({ ok: false, status: 401, error: 'invalid_client' });
  });

  it('accepts client_secret_post', async () => {
    const post = await f.serviceClient({ resources: [{ identifier: ORDERS }], extra: { authMethod: 'client_secret_post' } });
    const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: post.clientId, client_secret: post.clientSecret, scope: 'orders:read' });
    const { status, json } = await postForm(f.as.token_endpoint!, body);
    expect(status).toBe(200);
    expect(json.scope).toBe('orders:read');
  });

  describe('private_key_jwt', () => {
    let client: Awaited<ReturnType<typeof signedClient>>;
    const request = async (jwt: string) =>
      postForm(
        f.as.token_endpoint!,
        new URLSearchParams({
          grant_type: 'client_credentials',
          scope: 'orders:read',
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: jwt,
        }),
      );

    beforeAll(async () => {
      client = await signedClient(f, ORDERS);
    });

    it('issues a token to a client that signs its assertion with a key from its registered JWKS', async () => {
      const { status, json } = await request(await client.assertion());
      expect(status).toBe(200);
      expect(decodeJwt(String(json.access_token)).payload.client_id).toBe(client.clientId);
    });

    it('refuses a replayed assertion (same jti) with 401 invalid_client', async () => {
      const jwt = await client.assertion();
      expect((await request(jwt)).status).toBe(200);
      const replay = await request(jwt);
      expect(replay.status).toBe(401);
      expect(replay.json.error).toBe('invalid_client');
    });

    it('refuses an assertion signed by a key the client did not register with 401 invalid_client', async () => {
      const other = await generateKeyPair('ES256');
      const jwt = await client.assertion({ key: other.privateKey });
      const { status, json } = await request(jwt);
      expect(status).toBe(401);
      expect(json.error).toBe('invalid_client');
    });
  });
});
