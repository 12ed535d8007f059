import * as client from 'openid-client';
import { createCookieJar } from '../support/cookie-jar.ts';
import { authorizationRequest, PASSWORD, signIn, ssoFixtures } from '../support/sso.ts';
import { startM2m, TOKEN_EXCHANGE, type M2mFixture } from '../support/m2m.ts';

/** API A: what the user's app calls (JWT tokens). */
export const GATEWAY = 'https://gateway.example.test';
/** API A as well, for apps that get opaque tokens. */
export const LEDGER = 'https://ledger.example.test';
/** API B: what the gateway calls on the user's behalf. */
export const ORDERS = 'https://orders.example.test';
/** An API the user's app may call, but the gateway neither serves nor may exchange towards. */
export const BILLING = 'https://billing.example.test';

type Secret = { clientId: string; clientSecret: string };

export interface ExchangeFixture extends M2mFixture {
  userId: string;
  /** The service behind GATEWAY and LEDGER, which may exchange tokens for ORDERS (orders:read, orders:admin). */
  gateway: Secret;
  /** The user's app, which holds the user's tokens (public here only for revoking them as their holder). */
  app: Secret;
  /** Signs a user in through the login and consent pages and returns the app's access token for `resource`. */
  userToken(resource: string, email?: string): Promise<string>;
  /** The same, with the whole token response (a refresh token with offline_access). */
  userTokens(resource: string, options?: { email?: string; scope?: string; dpop?: boolean }): Promise<client.TokenEndpointResponse>;
  createUser(email: string): Promise<{ id: string }>;
}

/**
 * A user's app gets tokens for GATEWAY or LEDGER with orders:read orders:write; the gateway
 * service, the resource server of both, may exchange them for ORDERS tokens.
 */
export async function startExchange(): Promise<ExchangeFixture> {
  const f = await startM2m();
  const sso = ssoFixtures(f.server);
  await f.services.apis.create({ identifier: GATEWAY, scopes: 'orders:read orders:write' });
  await f.services.apis.create({ identifier: LEDGER, scopes: 'orders:read orders:write', tokenFormat: 'opaque' });
  await f.services.apis.create({ identifier: ORDERS, scopes: 'orders:read orders:write orders:admin', ttl: 600 });
  await f.services.apis.create({ identifier: BILLING, scopes: 'orders:read' });
  const { id: userId } = await sso.createUser('ada@example.com');
  const app = await sso.createClient();
  for (const identifier of [GATEWAY, LEDGER, BILLING]) await f.services.apis.grantClient({ clientId: app.clientId, identifier });

  // The gateway is the service behind GATEWAY and LEDGER: their resource server.
  const gateway = await f.serviceClient({ grantTypes: [TOKEN_EXCHANGE] });
  for (const identifier of [GATEWAY, LEDGER]) await f.services.apis.addResourceServer({ clientId: gateway.clientId, identifier });
  await f.services.apis.allowExchange({ clientId: gateway.clientId, identifier: ORDERS, scopes: ['orders:read', 'orders:admin'] });

  async function userTokens(
    resource: string,
    { email = 'ada@example.com', scope = 'openid orders:read orders:write', dpop = false }: { email?: string; scope?: string; dpop?: boolean } = {},
  ) {
    const request = await authorizationRequest(app.config, app.redirectUri, {
      scope,
      resource,
      ...(scope.includes('offline_access') && { prompt: 'consent' }),
    });
    const { callback } = await signIn(createCookieJar(), request.url, { email, password: PASSWORD, consent: 'allow' });
    if (!callback) throw new Error('sign-in did not reach the callback');
    return client.authorizationCodeGrant(
      app.config,
      new URL(callback),
      {
        pkceCodeVerifier: request.verifier,
        expectedState: request.state,
        expectedNonce: request.nonce,
        idTokenExpected: true,
      },
      undefined,
      dpop ? { DPoP: client.getDPoPHandle(app.config, await client.randomDPoPKeyPair()) } : undefined,
    );
  }

  return {
    ...f,
    userId,
    gateway,
    app: { clientId: app.clientId, clientSecret: app.clientSecret! },
    createUser: (email) => sso.createUser(email),
    userToken: async (resource, email) => (await userTokens(resource, { email })).access_token,
    userTokens,
  };
}
