import { createRemoteJWKSet, importJWK, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { isIP } from 'node:net';
import * as oauth from 'oauth4webapi';
import type { Clock } from '../../apps/core/clock.ts';
import { loadConfig } from '../../apps/core/config/config.ts';
import { createServices, type Services } from '../../apps/core/services.ts';
import { IDENTITY_TYP } from '../../apps/server/gateway/identity-token.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { startTestServer, testSecrets, type TestServer } from '../support/server.ts';

export const ORDERS = 'https://orders.example.test';
export const ORDERS_HOST = 'orders.example.test';

/** A Gatehouse on its own database, with the services a test sets APIs, clients and routes up with. */
export interface GatewayFixture {
  server: TestServer;
  database: TestDatabase;
  services: Services;
  as: oauth.AuthorizationServer;
  /** A client_credentials client allowed the API's scopes, and a token for it. */
  serviceToken(scopes: string[], options?: { api?: string; dpop?: oauth.DPoPHandle }): Promise<{ clientId: string; clientSecret: string; token: string }>;
  /** A JWT shaped like Gatehouse's access tokens and signed with its key, for claims no grant gives yet. */
  signedAccessToken(claims: JWTPayload): Promise<string>;
  close(): Promise<void>;
}

export const insecure = { [oauth.allowInsecureRequests]: true } as const;

/**
 * `setup` runs before the server starts (APIs, routes), so the server reads those routes as it
 * starts; a route added later is in force after EDGE_ROUTE_REFRESH_INTERVAL. `clock`: the server's.
 */
export async function startGateway({
  env = {},
  setup,
  clock,
}: {
  env?: Record<string, string>;
  setup?: (services: Services) => Promise<void>;
  clock?: Clock;
} = {}): Promise<GatewayFixture> {
  const database = await createTestDatabase();
  const secrets = testSecrets();
  const fullEnv = { CLIENT_CACHE_TTL: '0', RATE_LIMIT_ENABLED: 'false', ...env };
  const services = createServices({ config: loadConfig({ NODE_ENV: 'test', DATABASE_URL: database.url, ...fullEnv }), secrets, db: database.db });
  await setup?.(services);
  const server = await startTestServer({ databaseUrl: database.url, secrets, env: fullEnv, clock });
  const issuer = new URL(server.issuer);
  // A test that names the issuer by a host only a browser resolves (--host-resolver-rules) asks no tokens of it here.
  const as = isIP(issuer.hostname)
    ? await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oidc' }))
    : { issuer: server.issuer };
  return {
    server,
    database,
    services,
    as,
    async serviceToken(scopes, { api = ORDERS, dpop } = {}) {
      const { clientId, clientSecret } = await services.clients.create({ name: 'service', grantTypes: ['client_credentials'] });
      await services.apis.grantClient({ clientId, identifier: api, scopes });
      const params = new URLSearchParams({ resource: api, scope: scopes.join(' ') });
      const response = await oauth.clientCredentialsGrantRequest(as, { client_id: clientId }, oauth.ClientSecretBasic(clientSecret!), params, {
        ...insecure,
        ...(dpop && { DPoP: dpop }),
      });
      const token = await oauth.processClientCredentialsResponse(as, { client_id: clientId }, response);
      return { clientId, clientSecret: clientSecret!, token: token.access_token };
    },
    async signedAccessToken(claims) {
      const jwk = (await services.keys.keySet()).signing.find((k) => k.alg === 'ES256')!;
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: server.issuer, iat: now, exp: now + 300, jti: crypto.randomUUID(), ...claims })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: jwk.kid })
        .sign(await importJWK(jwk, 'ES256'));
    },
    async close() {
      await server.close();
      await database.drop();
    },
  };
}

/**
 * The identity JWT verified the way an upstream would: against Gatehouse's JWKS (fetched from
 * where the server listens, whatever ISSUER's host), its own typ, the route's API as audience.
 */
export async function verifyIdentity(server: Pick<TestServer, 'issuer' | 'running'>, jwt: string, audience = ORDERS) {
  const { issuer } = server;
  const { payload, protectedHeader } = await jwtVerify(jwt, createRemoteJWKSet(new URL(`${server.running.url}/jwks`)), { issuer, audience, typ: IDENTITY_TYP });
  return { payload, protectedHeader };
}

/** Headers as nginx's auth_request subrequest carries them with the configuration in deploy/nginx. */
export const nginxHeaders = (method: string, uri: string, host = ORDERS_HOST, extra: Record<string, string> = {}) => ({
  'x-original-method': method,
  'x-original-uri': uri,
  'x-original-host': host,
  'x-original-proto': 'https',
  ...extra,
});
