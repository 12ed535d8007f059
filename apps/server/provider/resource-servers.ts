import { errors, type Configuration, type KoaContextWithOIDC, type ResourceServer } from 'oidc-provider';
import type { ApiService, ClientResource } from '../../core/apis/api-service.ts';
import type { RevocationList } from '../../core/tokens/revocations.ts';
import type { Authz } from '../../core/authz/authz.ts';
import { createTtlCache } from '../../core/ttl-cache.ts';
import { systemClock, type Clock } from '../../core/clock.ts';

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
  /** The identifiers of the APIs a client is the resource server of (api add-resource-server). */
  servedBy(clientId: string): Promise<string[]>;
  clear(): void;
}

export function createResourceLookup(apis: ApiService, ttlSeconds: number, now: Clock = systemClock): ResourceLookup {
  const resources = createTtlCache((id) => apis.resourcesForClient(id), ttlSeconds, now);
  const targets = createTtlCache((id) => apis.exchangeTargets(id), ttlSeconds, now);
  const served = createTtlCache((id) => apis.servedBy(id), ttlSeconds, now);
  return {
    forClient: (clientId) => resources.get(clientId),
    exchangeTargets: (clientId) => targets.get(clientId),
    servedBy: (clientId) => served.get(clientId),
    clear() {
      resources.clear();
      targets.clear();
      served.clear();
    },
  };
}

const intersect = (a: string[], b: string[]) => a.filter((s) => b.includes(s));

/** The user a token is being issued to: signed in (authorization), or named by the code or refresh token redeemed. */
function accountOf(ctx: KoaContextWithOIDC): string | undefined {
  const { entities, session, account } = ctx.oidc as KoaContextWithOIDC['oidc'] & { entities: Record<string, { accountId?: string } | undefined> };
  return account?.accountId ?? entities.AuthorizationCode?.accountId ?? entities.RefreshToken?.accountId ?? session?.accountId;
}

const requestedScopes = (ctx: KoaContextWithOIDC) =>
  String(ctx.oidc.params?.scope ?? '')
    .split(' ')
    .filter(Boolean);
const audiences = (aud: unknown): string[] => (Array.isArray(aud) ? aud : typeof aud === 'string' ? [aud] : []);

/** Whether the client is the resource server of an audience of the token. */
export async function servesAudienceOf(lookup: ResourceLookup, clientId: string, aud: unknown): Promise<boolean> {
  const served = await lookup.servedBy(clientId);
  return audiences(aud).some((a) => served.includes(a));
}

/**
 * RFC 8707 resource indicators backed by the `apis` and `client_apis` tables, and who may see and
 * revoke a token. Introspection (RFC 7662 §2.1): the client holding the token, and the API's own
 * resource servers (`resource_server_clients`), never merely a client allowed to call the API;
 * a revoked grant or subject (revocation list) is inactive to everyone. Revocation (RFC 7009
 * §2.1): only the client the token was issued to.
 */
export function resourceServerFeatures(
  lookup: ResourceLookup,
  accessTokenAlg: 'ES256' | 'RS256',
  revocations: Pick<RevocationList, 'isRevoked'>,
  subjects: Pick<Authz['subjects'], 'scopesGrantedBy'>,
) {
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
        // RBAC: a user gets only the scopes their roles grant, and the consent page asks for no more.
        const user = allowed.rbac ? accountOf(ctx) : undefined;
        const scopes = user ? intersect(allowed.scopes, await subjects.scopesGrantedBy({ type: 'user', id: user }, allowed.identifier)) : allowed.scopes;
        return {
          scope: scopes.join(' '),
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
        const { extra, accountId, iat, aud } = token as { extra?: { gid?: string }; accountId?: string; iat?: number; aud?: unknown };
        if (revocations.isRevoked({ gid: extra?.gid, sub: accountId, iat })) return false;
        // oidc-provider's own guard: a public client sees no one else's tokens.
        if (token.clientId === client.clientId) return true;
        return client.clientAuthMethod !== 'none' && servesAudienceOf(lookup, client.clientId, aud);
      },
    },
    revocation: {
      enabled: true as const,
      allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
    },
  } satisfies NonNullable<Configuration['features']>;
}
