import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { createHash, randomUUID } from 'node:crypto';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oauth from 'oauth4webapi';
import { startExampleApi } from '../../apps/example-api/example-api.ts';
import { clientCredentials, insecure, signedByGatehouse, startM2m, type M2mFixture } from '../support/m2m.ts';

const ORDERS = 'https://orders.example.test';
const BILLING = 'https://billing.example.test';

type KeyPair = Awaited<ReturnType<typeof oauth.generateKeyPair>>;

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
const callWithProof = (method: string, path: string, authorization: string, dpop?: string) =>
  fetch(`${api.url}${path}`, { method, headers: { authorization, ...(dpop && { dpop }) } });

/** The claims of an RFC 9068 token for ORDERS, as Gatehouse would issue it to `reader`. */
const ordersClaims = (overrides: JWTPayload = {}): JWTPayload => {
  const now = Math.floor(Date.now() / 1000);
  return { aud: ORDERS, sub: reader.clientId, client_id: reader.clientId, scope: 'orders:read', jti: randomUUID(), iat: now, exp: now + 300, ...overrides };
};

/** A client_credentials token bound to `keyPair`: the token request carries a DPoP proof (oauth4webapi's). */
async function dpopTokenFor(client: { clientId: string; clientSecret: string }, keyPair: KeyPair) {
  const response = await oauth.clientCredentialsGrantRequest(
    f.as,
    { client_id: client.clientId },
    oauth.ClientSecretBasic(client.clientSecret),
    new URLSearchParams({ scope: 'orders:read' }),
    {
      DPoP: oauth.DPoP({}, keyPair),
      ...insecure,
    },
  );
  const result = await oauth.processClientCredentialsResponse(f.as, { client_id: client.clientId }, response);
  expect(result.token_type).toBe('dpop');
  return result.access_token;
}

/** A DPoP proof built by hand, for the proofs no client library would send. */
async function proof(keyPair: KeyPair, htm: string, htu: string, accessToken: string, iat = Math.floor(Date.now() / 1000)) {
  const ath = createHash('sha256').update(accessToken).digest('base64url');
  return new SignJWT({ htm, htu, ath, jti: randomUUID(), iat })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(keyPair.publicKey) })
    .sign(keyPair.privateKey);
}

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

  it("answers a token without the route's scope with 403 insufficient_scope", async () => {
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
    const forged = await new SignJWT({ scope: 'orders:read', client_id: 'x' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'forged' })
      .setIssuer(f.server.issuer)
      .setAudience(ORDERS)
      .setSubject('x')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    const response = await call('/orders', forged);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
  });

  it("refuses an ID-token-shaped JWT (typ JWT, signed with Gatehouse's own key) with 401 invalid_token", async () => {
    const response = await call('/orders', await signedByGatehouse(f, ordersClaims(), { typ: 'JWT' }));
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_token"/);
  });

  it('accepts the same claims and key with typ at+jwt, so only typ made the difference', async () => {
    expect((await call('/orders', await signedByGatehouse(f, ordersClaims()))).status).toBe(200);
  });

  it('refuses a token without exp (regression: exp was not required)', async () => {
    const { exp, ...claims } = ordersClaims();
    const response = await call('/orders', await signedByGatehouse(f, claims));
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
  });

  it('tolerates 15 seconds of clock difference on exp, and no more', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect((await call('/orders', await signedByGatehouse(f, ordersClaims({ iat: now - 60, exp: now - 5 })))).status).toBe(200);
    const response = await call('/orders', await signedByGatehouse(f, ordersClaims({ iat: now - 60, exp: now - 25 })));
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error_description: string }).error_description).toBe('the access token expired');
  });
});

describe('the example API: DPoP-bound tokens (RFC 9449)', () => {
  let keyPair: KeyPair;
  let token: string;

  beforeAll(async () => {
    keyPair = await oauth.generateKeyPair('ES256');
    token = await dpopTokenFor(reader, keyPair);
  });

  it('is given a token bound to the key of the DPoP proof sent to /token', () => {
    expect(JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).cnf).toEqual({ jkt: expect.any(String) });
  });

  it('refuses a DPoP-bound token presented as Bearer with 401 invalid_token and a DPoP challenge (regression: a stolen bound token worked as a bearer token)', async () => {
    const response = await call('/orders', token);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(
      'DPoP realm="example-api", error="invalid_token", error_description="the access token is DPoP-bound: present it with the DPoP scheme and a proof", algs="ES256 RS256 Ed25519 EdDSA"',
    );
  });

  it('refuses it as Bearer even with a valid DPoP proof alongside', async () => {
    const response = await callWithProof('GET', '/orders', `Bearer ${token}`, await proof(keyPair, 'GET', `${api.url}/orders`, token));
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^DPoP .*error="invalid_token"/);
  });

  it('serves it presented as DPoP with a valid proof (sent by oauth4webapi)', async () => {
    const response = await oauth.protectedResourceRequest(token, 'GET', new URL(`${api.url}/orders`), new Headers(), null, {
      DPoP: oauth.DPoP({}, keyPair),
      ...insecure,
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ caller: reader.clientId });
  });

  it('refuses it as DPoP without a proof', async () => {
    const response = await callWithProof('GET', '/orders', `DPoP ${token}`);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^DPoP .*error="invalid_token"/);
  });

  it.each([
    ['another URL', 'GET', '/orders/elsewhere', 'the DPoP proof is for another URL'],
    ['another method', 'POST', '/orders', 'the DPoP proof is for another method'],
  ])('refuses a proof for %s with 401 invalid_token', async (_what, htm, path, description) => {
    const response = await callWithProof('GET', '/orders', `DPoP ${token}`, await proof(keyPair, htm, `${api.url}${path}`, token));
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^DPoP .*error="invalid_token"/);
    expect(((await response.json()) as { error_description: string }).error_description).toBe(description);
  });

  it("refuses a proof for the URL under another Host: htu is checked against the API's own URL", async () => {
    const dpop = await proof(keyPair, 'GET', 'http://elsewhere.example.test/orders', token);
    // node:http, because fetch replaces a Host header with the URL's.
    const status = await new Promise<number | undefined>((resolve, reject) => {
      request(`${api.url}/orders`, { headers: { host: 'elsewhere.example.test', authorization: `DPoP ${token}`, dpop } }, (response) => {
        response.resume();
        resolve(response.statusCode);
      })
        .on('error', reject)
        .end();
    });
    expect(status).toBe(401);
  });

  it('refuses a proof signed with a key other than the one the token is bound to', async () => {
    const other = await oauth.generateKeyPair('ES256');
    const response = await callWithProof('GET', '/orders', `DPoP ${token}`, await proof(other, 'GET', `${api.url}/orders`, token));
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error_description: string }).error_description).toBe(
      'the DPoP proof is signed with another key than the one the access token is bound to',
    );
  });

  it('refuses a proof made for another access token (ath)', async () => {
    const response = await callWithProof('GET', '/orders', `DPoP ${token}`, await proof(keyPair, 'GET', `${api.url}/orders`, `${token}x`));
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error_description: string }).error_description).toBe('the DPoP proof is for another access token');
  });

  it('refuses a stale proof (iat ten minutes ago)', async () => {
    const response = await callWithProof(
      'GET',
      '/orders',
      `DPoP ${token}`,
      await proof(keyPair, 'GET', `${api.url}/orders`, token, Math.floor(Date.now() / 1000) - 600),
    );
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error_description: string }).error_description).toBe('the DPoP proof is not recent');
  });
});

describe('the example API: discovery (RFC 8414 §3.3)', () => {
  /**
   * A loopback authorization server whose discovery document names `claimedIssuer(itself)` and
   * whose JWKS holds a key of the test's: what an API is led to by a document it should not trust.
   */
  async function foreignMetadata(claimedIssuer: (self: string) => string) {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'theirs', alg: 'ES256', use: 'sig' };
    const server = createServer((request, response) => {
      const self = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const body =
        request.url === '/.well-known/openid-configuration'
          ? { issuer: claimedIssuer(self), jwks_uri: `${self}/jwks` }
          : request.url === '/jwks'
            ? { keys: [jwk] }
            : undefined;
      response.writeHead(body ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(body ?? {}));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const token = await new SignJWT(ordersClaims()).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'theirs' }).setIssuer(url).sign(privateKey);
    return { url, token, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  }

  async function callThrough(metadata: { url: string; token: string }) {
    const errors: unknown[] = [];
    const trusting = await startExampleApi({ issuer: metadata.url, audience: ORDERS, onError: (error) => errors.push(error) });
    try {
      const response = await fetch(`${trusting.url}/orders`, { headers: { authorization: `Bearer ${metadata.token}` } });
      return { status: response.status, body: await response.json(), errors };
    } finally {
      await trusting.close();
    }
  }

  it('refuses to use a discovery document that names another issuer, and answers 503 (regression: its jwks_uri was trusted)', async () => {
    const metadata = await foreignMetadata(() => 'https://other.example.test');
    try {
      const { status, body, errors } = await callThrough(metadata);
      expect({ status, body }).toEqual({
        status: 503,
        body: { error: 'temporarily_unavailable', error_description: 'the authorization server cannot be trusted or reached' },
      });
      expect(errors).toEqual([expect.objectContaining({ code: oauth.JSON_ATTRIBUTE_COMPARISON })]);
    } finally {
      await metadata.close();
    }
  });

  it('uses the same document when it names the configured issuer, so only the issuer made the difference', async () => {
    const metadata = await foreignMetadata((self) => self);
    try {
      expect(await callThrough(metadata)).toMatchObject({ status: 200, errors: [] });
    } finally {
      await metadata.close();
    }
  });
});

describe('the example API: PUT /orders/:id asks the policy decision point (AuthZEN)', () => {
  const POLICIES = `
@id("owners-update-their-orders")
permit (principal, action == Action::"update", resource is order) when { resource.owner == principal };

@id("managers-update-any-order")
permit (principal in Role::"${ORDERS}#manager", action == Action::"update", resource is order);
`;
  let guarded: Awaited<ReturnType<typeof startExampleApi>>;
  let owner: { clientId: string; clientSecret: string };
  let manager: { clientId: string; clientSecret: string };
  let stranger: { clientId: string; clientSecret: string };
  const update = (id: string, token: string) => fetch(`${guarded.url}/orders/${id}`, { method: 'PUT', headers: { authorization: `Bearer ${token}` } });

  beforeAll(async () => {
    const { apis, authz } = f.services;
    // The API's own client, allowed to ask the decision point (gatehouse api allow ... --api <ISSUER>/access/v1).
    const pdpClient = await f.serviceClient();
    await apis.grantClient({ clientId: pdpClient.clientId, identifier: `${f.server.issuer}/access/v1`, scopes: ['access:evaluate'] });
    [owner, manager, stranger] = [await f.serviceClient(), await f.serviceClient(), await f.serviceClient()];
    for (const c of [owner, manager, stranger]) await apis.grantClient({ clientId: c.clientId, identifier: ORDERS });
    await authz.directory.roles.create({ api: ORDERS, name: 'manager', scopes: 'orders:write' });
    await authz.directory.roles.assign({ api: ORDERS, role: 'manager', client: manager.clientId });
    await authz.policies.set(POLICIES);
    guarded = await startExampleApi({ issuer: f.server.issuer, audience: ORDERS, pdpClient, orders: { '7': { owner: `client:${owner.clientId}` } } });
  });
  afterAll(() => guarded?.close());

  /** The server reads a new policy version within POLICY_REFRESH_INTERVAL. */
  const eventually = async (check: () => Promise<number>, expected: number) => {
    let status = 0;
    for (let i = 0; i < 120 && status !== expected; i++) {
      status = await check();
      if (status !== expected) await new Promise((r) => setTimeout(r, 50));
    }
    return status;
  };

  it("lets the order's owner update it", async () => {
    const token = await tokenFor(owner, 'orders:write');
    expect(await eventually(async () => (await update('7', token)).status, 200)).toBe(200);
  });

  it('lets a caller holding the manager role update it', async () => {
    expect((await update('7', await tokenFor(manager, 'orders:write'))).status).toBe(200);
  });

  it('answers 403 when the decision point denies, though the caller has the scope', async () => {
    const response = await update('7', await tokenFor(stranger, 'orders:write'));
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({ error: 'forbidden', error_description: 'the policy decision point denied this update' });
  });

  it('checks the scope before asking anyone, and answers 404 for an order it does not hold', async () => {
    expect((await update('7', await tokenFor(owner, 'orders:read'))).status).toBe(403);
    expect((await update('8', await tokenFor(owner, 'orders:write'))).status).toBe(404);
  });
});
