import Provider, { type Configuration, type FindAccount, type KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../../core/config/config.ts';
import { hash } from 'node:crypto';
import { systemClock, type Clock } from '../../core/clock.ts';
import { digest } from '../../core/digest.ts';
import { oidcScopes, type ClientRecord, type ClientService } from '../../core/clients/client-service.ts';
import type { Database } from '../../core/db/database.ts';
import type { KeySet } from '../../core/keys/key-service.ts';
import { standardClaims, type UserService } from '../../core/users/user-service.ts';
import { createClientAdapter, type ClientLookup } from './client-adapter.ts';
import { cookieSigner } from './cookie-keys.ts';
import { pinOriginToIssuer } from '../http/issuer-origin.ts';
import { paths, providerRoutes } from '../paths.ts';
import type { ProviderPages } from './pages.ts';
import { createPayloadAdapter } from './payload-adapter.ts';
import { resourceServerFeatures, type ResourceLookup } from './resource-servers.ts';
import { registerTokenExchange } from './token-exchange.ts';
import type { TokenVerifier } from '../../core/tokens/token-verifier.ts';
import type { RevocationList } from '../../core/tokens/revocations.ts';
import { createTokenClaims } from './token-claims.ts';
import type { Authz } from '../../core/authz/authz.ts';
import type { StructuredTokens } from './structured-tokens.ts';

export interface ProviderDeps {
  config: Config;
  db: Database;
  keySet: KeySet;
  cookieKeys: string[];
  clients: ClientService;
  clientLookup: ClientLookup;
  users: UserService;
  /** APIs and exchange policies per client (resource-servers.ts). */
  resources: ResourceLookup;
  /** The one access-token verifier (core/tokens), for token exchange. */
  verifier: TokenVerifier;
  /** Revoked tokens, grants and subjects (core/tokens): grant revocations are recorded here. */
  revocations: RevocationList;
  /** JWT introspection and revocation through the bearer adapters (provider/structured-tokens.ts). */
  structured: StructuredTokens;
  /** Groups, roles and attributes (core/authz): roles and groups in tokens, RBAC, the groups claim. */
  subjects: Authz['subjects'];
  /** Gatehouse's logout, logged-out and error pages (pages.ts). */
  pages?: ProviderPages;
  /** Extra configuration from later capabilities (interactions, resource servers, ...). */
  extend?: (configuration: Configuration) => Configuration;
  /**
   * Gatehouse's clock: storage's expiry of what it reads back, and token exchange's remaining
   * lifetime. oidc-provider times its own artifacts with Date.now, which this cannot change.
   */
  clock?: Clock;
}

export const claimsByScope = {
  openid: ['sub'],
  profile: [
    'name',
    'family_name',
    'given_name',
    'middle_name',
    'nickname',
    'preferred_username',
    'profile',
    'picture',
    'website',
    'gender',
    'birthdate',
    'zoneinfo',
    'locale',
    'updated_at',
  ],
  email: ['email', 'email_verified'],
  address: ['address'],
  phone: ['phone_number', 'phone_number_verified'],
  groups: ['groups'],
};

export function createProvider({
  config,
  db,
  keySet,
  cookieKeys,
  clients,
  clientLookup,
  users,
  resources,
  verifier,
  revocations,
  structured,
  subjects,
  pages,
  extend = (c) => c,
  clock = systemClock,
}: ProviderDeps): Provider {
  const clientAdapter = createClientAdapter(clientLookup);
  const findAccount: FindAccount = async (_ctx, sub) => {
    const user = await users.find(sub);
    if (!user || user.disabled) return undefined;
    // Groups are read only when a token or UserInfo asks for them (the groups scope).
    return {
      accountId: user.id,
      claims: async (_use, scope) =>
        ({ ...standardClaims(user), ...(scope.split(' ').includes('groups') && { groups: (await subjects.read({ type: 'user', id: user.id })).groups }) }) as {
          sub: string;
        },
    };
  };
  const onGrantRevoked = (grantId: string) => revocations.revokeGrant(digest(grantId));
  const base: Configuration = {
    adapter: (model: string) => (model === 'Client' ? clientAdapter : structured.adapter(model, createPayloadAdapter(db, model, clock, { onGrantRevoked }))),
    // keySet.signing lists each algorithm's current key first; oidc-provider signs with the first match.
    jwks: { keys: keySet.signing as never },
    // Secure whenever the issuer is https, even behind a proxy that speaks http to us (pinOriginToIssuer).
    cookies: {
      keys: cookieSigner(cookieKeys) as never,
      long: { httpOnly: true, sameSite: 'lax', secure: config.issuer.startsWith('https:') },
      short: { httpOnly: true, sameSite: 'lax', secure: config.issuer.startsWith('https:') },
    },
    routes: providerRoutes,
    claims: claimsByScope,
    scopes: [...oidcScopes],
    responseTypes: ['code'],
    // Public clients must use PKCE; confidential ones may (S256 is the only method offered).
    pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
    findAccount,
    features: {
      devInteractions: { enabled: config.devInteractions },
      ...resourceServerFeatures(resources, config.accessTokenSigningAlg, revocations, subjects),
      clientCredentials: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true, ...(pages && { logoutSource: pages.logoutSource, postLogoutSuccessSource: pages.postLogoutSuccessSource }) },
      backchannelLogout: { enabled: true },
      claimsParameter: { enabled: true },
      // RFC 9126: the request goes to /request over the back channel and the browser carries only
      // its request_uri (docs/README.md#featurespushedauthorizationrequests). Offered, not required.
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: false },
      // RFC 9449: a client that sends a DPoP proof gets a sender-constrained token (docs/README.md#featuresdpop).
      dPoP: { enabled: true },
    },
    interactions: { url: (_ctx, interaction) => paths.interactionUrl(interaction.uid) },
    // HMAC algorithms would need the clear client secret, which is never stored.
    enabledJWA: {
      clientAuthSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'],
      idTokenSigningAlgValues: ['RS256', 'ES256'],
      userinfoSigningAlgValues: ['RS256', 'ES256'],
      introspectionSigningAlgValues: ['RS256', 'ES256'],
      authorizationSigningAlgValues: ['RS256', 'ES256'],
    },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    ttl: {
      // A token for an API lives as long as that API says (apis.ttl).
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.ttl.accessToken,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.ttl.accessToken,
      IdToken: config.ttl.idToken,
      RefreshToken: config.ttl.refreshToken,
      Session: config.ttl.session,
      Grant: config.ttl.refreshToken,
      Interaction: 3600,
      AuthorizationCode: 60,
    },
    rotateRefreshToken: true,
    // Refresh tokens need the refresh_token grant, and offline_access or a first-party client.
    issueRefreshToken: async (_ctx, client, code) =>
      client.grantTypeAllowed('refresh_token') && (code.scopes.has('offline_access') || (client as { first_party?: boolean }).first_party === true),
    // first_party (clients.first_party) lets a client skip the consent page.
    extraClientMetadata: { properties: ['first_party'] },
    extraTokenClaims: createTokenClaims(subjects),
    // oidc-provider's own dispatcher refuses loopback and private addresses (#fetch), and with it
    // every logout token for a relying party on the operator's own network. Each URL it fetches
    // here is metadata of a client an operator registered (backchannel_logout_uri, jwks_uri):
    // there is no dynamic registration and no client ID metadata document to aim it elsewhere.
    fetch: (url, { dispatcher: _, ...init }: RequestInit & { dispatcher?: unknown } = {}) => fetch(url, init),
    renderError:
      pages?.renderError ??
      ((ctx, out) => {
        ctx.type = 'json';
        ctx.body = out;
      }),
  };

  const matched = new WeakMap<ClientRecord, Set<string>>();
  const provider = new Provider(config.issuer, extend(base));
  // Safe only because clientIp (http/client-ip.ts) strips X-Forwarded-* from untrusted peers.
  provider.proxy = config.trustedProxies.length > 0;
  pinOriginToIssuer(provider, config.issuer);
  // oidc-provider stops reading a body past its 56 KiB limit (400 invalid_request). Node discards
  // an unread body itself, but not one a reader began: the rest would then stay in the socket
  // and stall the next request on that kept-alive connection. Discard it as Node would.
  provider.use(async function discardUnreadBody(ctx, next) {
    try {
      await next();
    } finally {
      if (!ctx.req.complete) ctx.req.resume();
    }
  });
  registerTokenExchange(provider, { lookup: resources, verifier, accessTokenAlg: config.accessTokenSigningAlg, findAccount, now: clock });

  reuseClientsOfCachedRecords(provider, clientLookup);

  // The hook oidc-provider exposes for hashed client secrets (panva/node-oidc-provider#631).
  provider.Client.prototype.compareClientSecret = async function compareClientSecret(this: { clientId: string }, actual: string) {
    const record = await clientLookup.find(this.clientId);
    return !!record && verifySecretOnce(record, actual);
  };
  return provider;

  /**
   * An HMAC per request was the token endpoint's largest cost after signing. A secret that
   * matched is remembered (as a SHA-256 digest, never in clear) for the life of the cached
   * client record, at most CLIENT_CACHE_TTL seconds; secrets that fail are always recomputed.
   */
  function verifySecretOnce(record: ClientRecord, actual: string): boolean {
    const key = hash('sha256', actual, 'base64url');
    const known = matched.get(record);
    if (known?.has(key)) return true;
    if (!clients.verifySecret(record, actual)) return false;
    if (!known) matched.set(record, new Set([key]));
    else if (known.size < 4) known.add(key);
    return true;
  }
}

export type { KoaContextWithOIDC };

/**
 * oidc-provider builds a client from adapter metadata once per distinct metadata, but to find
 * out it serializes and hashes the metadata on every lookup, which is every token request. A
 * cached client record (client-adapter.ts) is that metadata until it expires, so the client
 * built from it is reused while the record is: a change still shows within CLIENT_CACHE_TTL.
 */
function reuseClientsOfCachedRecords(provider: Provider, clientLookup: ClientLookup) {
  const Client = provider.Client;
  const find = Client.find.bind(Client);
  const built = new WeakMap<ClientRecord, Awaited<ReturnType<typeof find>>>();
  Client.find = async function findClient(id: string) {
    const record = typeof id === 'string' && id ? await clientLookup.find(id) : undefined;
    const known = record && built.get(record);
    if (known) return known;
    const client = await find(id);
    if (record && client) built.set(record, client);
    return client;
  };
}
