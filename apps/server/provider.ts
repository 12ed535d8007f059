import Provider, { type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../core/config.ts';
import type { ClientService } from '../core/clients.ts';
import type { Database } from '../core/database.ts';
import type { KeySet } from '../core/keys.ts';
import { standardClaims, type UserService } from '../core/users.ts';
import { createClientAdapter, type ClientLookup } from './client-adapter.ts';
import { paths, providerRoutes } from './paths.ts';
import { createPrismaAdapter } from './prisma-adapter.ts';

export interface ProviderDeps {
  config: Config;
  db: Database;
  keySet: KeySet;
  cookieKeys: string[];
  clients: ClientService;
  clientLookup: ClientLookup;
  users: UserService;
  /** Extra configuration from later capabilities (interactions, resource servers, ...). */
  extend?: (configuration: Configuration) => Configuration;
}

export const claimsByScope = {
  openid: ['sub'],
  profile: ['name', 'family_name', 'given_name', 'middle_name', 'nickname', 'preferred_username', 'profile', 'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at'],
  email: ['email', 'email_verified'],
  address: ['address'],
  phone: ['phone_number', 'phone_number_verified'],
};

export function createProvider({ config, db, keySet, cookieKeys, clients, clientLookup, users, extend = (c) => c }: ProviderDeps): Provider {
  const clientAdapter = createClientAdapter(clientLookup);
  const base: Configuration = {
    adapter: (model: string) => (model === 'Client' ? clientAdapter : createPrismaAdapter(db, model)),
    jwks: { keys: keySet.signing as never },
    cookies: { keys: cookieKeys },
    routes: providerRoutes,
    claims: claimsByScope,
    scopes: ['openid', 'offline_access', 'profile', 'email', 'address', 'phone'],
    responseTypes: ['code'],
    // Public clients must use PKCE; confidential ones may (S256 is the only method offered).
    pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
    async findAccount(_ctx, sub) {
      const user = await users.find(sub);
      if (!user || user.disabled) return undefined;
      return { accountId: user.id, claims: () => standardClaims(user) as { sub: string } };
    },
    features: {
      devInteractions: { enabled: config.devInteractions },
      introspection: { enabled: true },
      revocation: { enabled: true },
      clientCredentials: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true },
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
      AccessToken: config.ttl.accessToken,
      ClientCredentials: config.ttl.accessToken,
      IdToken: config.ttl.idToken,
      RefreshToken: config.ttl.refreshToken,
      Session: config.ttl.session,
      Grant: config.ttl.refreshToken,
      Interaction: 3600,
      AuthorizationCode: 60,
    },
    rotateRefreshToken: true,
    renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
  };

  const provider = new Provider(config.issuer, extend(base));
  provider.proxy = config.trustProxy;

  // The hook oidc-provider exposes for hashed client secrets (panva/node-oidc-provider#631).
  provider.Client.prototype.compareClientSecret = async function compareClientSecret(this: { clientId: string }, actual: string) {
    const record = await clientLookup.find(this.clientId);
    return !!record && clients.verifySecret(record, actual);
  };
  return provider;
}

export type { KoaContextWithOIDC };
