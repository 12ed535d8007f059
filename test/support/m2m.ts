import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWTPayload } from 'jose';
import * as oauth from 'oauth4webapi';
import { createServices, type Services } from '../../apps/core/services.ts';
import type { CreateClientBody } from '../../apps/core/clients/client-service.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { startTestServer, type TestServer } from './server.ts';

/** A real Gatehouse on its own database, with the services that set up APIs and clients. */
export interface M2mFixture {
  server: TestServer;
  database: TestDatabase;
  services: Services;
  as: oauth.AuthorizationServer;
  /** A client_credentials client (secret_basic), optionally allowed for APIs. */
  serviceClient(options?: {
    resources?: Array<{ identifier: string; scopes?: string[] }>;
    grantTypes?: CreateClientBody['grantTypes'];
    extra?: Partial<CreateClientBody>;
  }): Promise<{ clientId: string; clientSecret: string }>;
  close(): Promise<void>;
}

export const insecure = { [oauth.allowInsecureRequests]: true } as const;

export async function startM2m(env: Record<string, string> = {}): Promise<M2mFixture> {
  const database = await createTestDatabase();
  // No client cache: each test sees the rows it just wrote (the cache itself is tested apart).
  const server = await startTestServer({ databaseUrl: database.url, env: { CLIENT_CACHE_TTL: '0', RATE_LIMIT_ENABLED: 'false', ...env } });
  const services = createServices({ config: server.config, secrets: server.secrets, db: database.db });
  const issuer = new URL(server.issuer);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oidc' }));
  return {
    server,
    database,
    services,
    as,
    async serviceClient({ resources = [], grantTypes = ['client_credentials'], extra = {} } = {}) {
      const { clientId, clientSecret } = await services.clients.create({ name: 'service', grantTypes, ...extra } as CreateClientBody);
      for (const r of resources) await services.apis.grantClient({ clientId, identifier: r.identifier, scopes: r.scopes });
      return { clientId, clientSecret: clientSecret! };
    },
    async close() {
      await server.close();
      await database.drop();
    },
  };
}

/**
 * A client_credentials client that authenticates with private_key_jwt (RFC 7523) and may ask
 * for `resource`. `assertion` signs a client assertion: for the issuer, with a fresh jti and the
 * client's registered key, unless told otherwise.
 */
export async function signedClient(f: M2mFixture, resource: string) {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), alg: 'ES256', use: 'sig' };
  const { clientId } = await f.services.clients.create({
    name: 'signed',
    grantTypes: ['client_credentials'],
    authMethod: 'private_key_jwt',
    jwks: { keys: [jwk] },
  });
  await f.services.apis.grantClient({ clientId, identifier: resource });
  const assertion = ({
    audience = f.server.issuer,
    jti = randomUUID(),
    key = privateKey,
  }: {
    audience?: string;
    jti?: string;
    key?: Parameters<SignJWT['sign']>[0];
  } = {}) =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(audience)
      .setJti(jti)
      .setIssuedAt()
      .setExpirationTime('60s')
      .sign(key);
  return { clientId, assertion };
}

type TokenOutcome = { ok: true; token: oauth.TokenEndpointResponse } | { ok: false; status: number; error: string; wwwAuthenticate: string | null };

/** The parsed token response, or the OAuth error and status. */
async function outcome(f: M2mFixture, clientId: string, response: Response): Promise<TokenOutcome> {
  if (!response.ok) {
    const body = (await response.clone().json()) as { error: string };
    return { ok: false, status: response.status, error: body.error, wwwAuthenticate: response.headers.get('www-authenticate') };
  }
  return { ok: true, token: await oauth.processGenericTokenEndpointResponse(f.as, { client_id: clientId }, response) };
}

/** A client_credentials token request with oauth4webapi. */
export async function clientCredentials(
  f: M2mFixture,
  client: { clientId: string; clientSecret: string },
  params: Record<string, string> = {},
): Promise<TokenOutcome> {
  const response = await oauth.clientCredentialsGrantRequest(
    f.as,
    { client_id: client.clientId },
    oauth.ClientSecretBasic(client.clientSecret),
    new URLSearchParams(params),
    insecure,
  );
  return outcome(f, client.clientId, response);
}

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/** An RFC 8693 token exchange with oauth4webapi; `params` may be pairs to repeat a parameter. */
export async function tokenExchange(
  f: M2mFixture,
  client: { clientId: string; clientSecret: string },
  params: Record<string, string> | string[][],
): Promise<TokenOutcome> {
  const response = await oauth.genericTokenEndpointRequest(
    f.as,
    { client_id: client.clientId },
    oauth.ClientSecretBasic(client.clientSecret),
    TOKEN_EXCHANGE,
    params,
    insecure,
  );
  return outcome(f, client.clientId, response);
}

/** A raw form POST, for requests no client library would send. */
export async function postForm(url: string, body: string | URLSearchParams, headers: Record<string, string> = {}) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: the assertion on the body will say so
  }
  return { status: response.status, json, headers: response.headers };
}

export const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

export const decodeJwt = (jwt: string) => ({
  header: JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString()),
  payload: JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()),
});

/**
 * A JWT shaped like the server's own access tokens (typ at+jwt, its issuer), signed with its
 * current ES256 key: for refusals that must come from something other than the signature.
 */
export async function signedByGatehouse(f: M2mFixture, claims: JWTPayload, header: { typ?: string } = {}): Promise<string> {
  const jwk = (await f.services.keys.keySet()).signing.find((k) => k.alg === 'ES256')!;
  return new SignJWT({ iss: f.server.issuer, ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: jwk.kid, ...header })
    .sign(await importJWK(jwk, 'ES256'));
}

/**
 * A service allowed to ask the policy decision point, as `gatehouse api allow --client ID --api
 * <ISSUER>/access/v1 --scopes access:evaluate` makes one, and its access token for that API.
 */
export async function pdpCaller(f: M2mFixture): Promise<{ clientId: string; clientSecret: string; token: string }> {
  const caller = await f.serviceClient();
  const identifier = `${f.server.issuer}/access/v1`;
  await f.services.apis.grantClient({ clientId: caller.clientId, identifier, scopes: ['access:evaluate'] });
  const issued = await clientCredentials(f, caller, { resource: identifier, scope: 'access:evaluate' });
  if (!issued.ok) throw new Error(issued.error);
  return { ...caller, token: issued.token.access_token };
}
