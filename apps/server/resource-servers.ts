import { errors, type Configuration, type KoaContextWithOIDC, type ResourceServer } from 'oidc-provider';
import type { ApiService, ClientResource } from '../core/apis.ts';
import { createTtlCache } from './ttl-cache.ts';

/**
 * What the token endpoint reads about APIs, through a short-lived per-process cache like the
 * client lookup (see client-adapter.ts): the database stays the only source of truth, and a
 * change is seen by every instance within the TTL.
 */
export interface ResourceLookup {
  /** The APIs a client may get client_credentials tokens for. */
  forClient(clientId: string): Promise<ClientResource[]>;
  /** The APIs a client may exchange subject tokens towards (RFC 8693 policies). */
  exchangeTargets(clientId: string): Promise<ClientResource[]>;
  clear(): void;
}

export function createResourceLookup(apis: ApiService, ttlSeconds: number, now = Date.now): ResourceLookup {
  const resources = createTtlCache((id) => apis.resourcesForClient(id), ttlSeconds, now);
  const targets = createTtlCache((id) => apis.exchangeTargets(id), ttlSeconds, now);
  return {
    forClient: (clientId) => resources.get(clientId),
    exchangeTargets: (clientId) => targets.get(clientId),
    clear() {
      resources.clear();
      targets.clear();
    },
  };
}

const requestedScopes = (ctx: KoaContextWithOIDC) => String(ctx.oidc.params?.scope ?? '').split(' ').filter(Boolean);
const audiences = (aud: unknown): string[] => (Array.isArray(aud) ? aud : typeof aud === 'string' ? [aud] : []);

/** Whether the client is allowed for (and so acts as a resource server of) an audience of the token. */
async function servesAudienceOf(lookup: ResourceLookup, clientId: string, aud: unknown): Promise<boolean> {
  const own = await lookup.forClient(clientId);
  return audiences(aud).some((a) => own.some((r) => r.identifier === a));
}

/**
 * RFC 8707 resource indicators backed by the `apis` and `client_apis` tables, and the matching
 * introspection and revocation policies: a token is shown to, and revocable by, the client that
 * holds it and the clients allowed for its audience API; to everyone else it is `active: false`.
 */
export function resourceServerFeatures(lookup: ResourceLookup, accessTokenAlg: 'ES256' | 'RS256') {
  return {
    resourceIndicators: {
      enabled: true as const,
      // A client allowed exactly one API needs no `resource` parameter.
      async defaultResource(_ctx, client, oneOf) {
        if (oneOf) return oneOf;
        const own = await lookup.forClient(client.clientId);
        return own.length === 1 ? own[0].identifier : undefined;
      },
      // Authorization-code and refresh-token requests without `resource` get the granted one.
      useGrantedResource: () => true,
      async getResourceServerInfo(ctx: KoaContextWithOIDC, resource: string, client: { clientId: string }): Promise<ResourceServer> {
        const allowed = (await lookup.forClient(client.clientId)).find((r) => r.identifier === resource);
        if (!allowed) throw new errors.InvalidTarget('resource indicator is unknown or not allowed for this client');
        // oidc-provider silently drops scopes the resource server lacks; asking for one is an error here.
        if (ctx.oidc.route === 'token' && ctx.oidc.params?.grant_type === 'client_credentials') {
          const missing = requestedScopes(ctx).find((s) => !allowed.scopes.includes(s));
          if (missing) throw new errors.InvalidScope('requested scope is not allowed', missing);
        }
        return {
          scope: allowed.scopes.join(' '),
          audience: allowed.identifier,
          accessTokenTTL: allowed.ttl,
          accessTokenFormat: allowed.tokenFormat,
          jwt: { sign: { alg: accessTokenAlg } },
        };
      },
    },
    introspection: {
      enabled: true as const,
      async allowedPolicy(_ctx, client, token) {
        return token.clientId === client.clientId || servesAudienceOf(lookup, client.clientId, (token as { aud?: unknown }).aud);
      },
    },
    revocation: {
      enabled: true as const,
      async allowedPolicy(_ctx, client, token) {
        return token.clientId === client.clientId || servesAudienceOf(lookup, client.clientId, (token as { aud?: unknown }).aud);
      },
    },
  } satisfies NonNullable<Configuration['features']>;
}
