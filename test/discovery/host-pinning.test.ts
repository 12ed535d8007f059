import { request } from 'node:http';
import { loadConfig } from '../../apps/core/config/config.ts';
import { ConfigError } from '../../apps/core/errors.ts';
import { signedClient, startM2m, type M2mFixture } from '../support/m2m.ts';
import { createTestDatabase } from '../support/database.ts';
import { startTestServer } from '../support/server.ts';

const ORDERS = 'https://orders.example.test';
const ATTACKER = 'attacker.example';

/** A raw request, so Host and the request target can be anything a client may send. */
function raw(
  base: string,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: hostname, port, method: options.method ?? 'GET', path: options.path, headers: options.headers, setHost: !options.headers?.host },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const endpointsOf = (document: Record<string, unknown>) =>
  Object.entries(document).filter(([name, value]) => name.endsWith('_endpoint') || name === 'jwks_uri' || (name === 'issuer' && typeof value === 'string'));

describe('published URLs come from ISSUER, whatever the request says (discovery poisoning)', () => {
  let f: M2mFixture;
  afterEach(() => f?.close());

  it.each([
    ['a foreign Host', { host: ATTACKER }],
    ['a foreign Host with a port', { host: `${ATTACKER}:8443` }],
    ['X-Forwarded-Host and X-Forwarded-Proto from a trusted proxy', { 'x-forwarded-host': ATTACKER, 'x-forwarded-proto': 'https' }],
  ])('a first request after start with %s does not change what the next caller is told', async (_what, headers) => {
    f = await startM2m({ TRUSTED_PROXIES: '127.0.0.1' });
    for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/jwks']) {
      expect((await raw(f.server.url, { path, headers })).status).toBe(200);
    }
    for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
      const poisoned = JSON.parse((await raw(f.server.url, { path, headers })).body);
      const plain = (await (await fetch(`${f.server.url}${path}`)).json()) as Record<string, unknown>;
      expect(plain).toEqual(poisoned);
      expect(endpointsOf(plain).length).toBeGreaterThan(5);
      for (const [name, value] of endpointsOf(plain)) expect([name, String(value).startsWith(f.server.issuer)]).toEqual([name, true]);
      expect(plain.token_endpoint).toBe(`${f.server.issuer}/token`);
      expect(plain.jwks_uri).toBe(`${f.server.issuer}/jwks`);
    }
  });

  it("advertises an https issuer's URLs as https when the hop to Gatehouse is plain http", async () => {
    const database = await createTestDatabase();
    const server = await startTestServer({ databaseUrl: database.url, env: { ISSUER: 'https://id.example.test' } });
    try {
      const { body } = await raw(server.running.url, { path: '/.well-known/openid-configuration' });
      const document = JSON.parse(body) as Record<string, unknown>;
      expect(document.token_endpoint).toBe('https://id.example.test/token');
      for (const [name, value] of endpointsOf(document)) expect([name, /^https:\/\/id\.example\.test(\/|$)/.test(String(value))]).toEqual([name, true]);
    } finally {
      await server.close();
      await database.drop();
    }
  });

  describe('private_key_jwt assertions', () => {
    let client: Awaited<ReturnType<typeof signedClient>>;
    const tokenRequest = async (audience: string, headers: Record<string, string> = {}) =>
      raw(f.server.url, {
        method: 'POST',
        path: '/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: await client.assertion({ audience }),
        }).toString(),
      });

    beforeEach(async () => {
      f = await startM2m();
      await f.services.apis.create({ identifier: ORDERS, scopes: 'orders:read' });
      client = await signedClient(f, ORDERS);
    });

    it("accepts one whose audience is the issuer's token endpoint", async () => {
      expect((await tokenRequest(`${f.server.issuer}/token`)).status).toBe(200);
    });

    it('refuses one whose audience is the token endpoint on a Host the request chose, with 401 invalid_client', async () => {
      const { status, body } = await tokenRequest(`http://${ATTACKER}/token`, { host: ATTACKER });
      expect(status).toBe(401);
      expect(JSON.parse(body).error).toBe('invalid_client');
    });
  });
});

describe('ISSUER', () => {
  it.each([
    ['a path', 'https://id.example.test/idp'],
    ['a query', 'https://id.example.test/?a=b'],
    ['user information', 'https://user@id.example.test'],
  ])('is refused with %s (every route is served at the root)', (_what, issuer) => {
    expect(() => loadConfig({ ISSUER: issuer })).toThrow(
      new ConfigError('ISSUER', 'expected an origin with no path, query, fragment or user (Gatehouse serves at the root)'),
    );
  });

  it('is accepted with a trailing slash', () => {
    expect(loadConfig({ ISSUER: 'https://id.example.test/' }).issuer).toBe('https://id.example.test');
  });
});
