import { createLocalJWKSet, jwtVerify, type JWK } from 'jose';
import Provider, { errors, type FindAccount, type KoaContextWithOIDC } from 'oidc-provider';
import type { ClientResource } from '../core/apis.ts';
import type { ResourceLookup } from './resource-servers.ts';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const parameters = ['subject_token', 'subject_token_type', 'requested_token_type', 'actor_token', 'actor_token_type', 'resource', 'audience', 'scope'];

interface Subject {
  sub: string;
  aud: string[];
  scopes: string[];
  exp: number;
  act?: Record<string, unknown>;
}

type Ctx = KoaContextWithOIDC;
type Oidc = Ctx['oidc'] & {
  params: Record<string, string | undefined> & { resource?: string | string[]; audience?: string | string[] };
  client: NonNullable<Ctx['oidc']['client']>;
};

/** The `act` claim of each exchanged token, read back by `extraTokenClaims` when the token is saved. */
const actOf = new WeakMap<object, Record<string, unknown>>();
export const tokenExchangeClaims = (token: object) => {
  const act = actOf.get(token);
  return act ? { act } : undefined;
};

const audiences = (aud: unknown): string[] => (Array.isArray(aud) ? aud : typeof aud === 'string' ? [aud] : []);
const splitScope = (scope: unknown) => (typeof scope === 'string' ? scope.split(' ').filter(Boolean) : []);
const badSubject = () => new errors.InvalidGrant('subject_token is invalid, expired or revoked');

/**
 * RFC 8693 token exchange: a service holding an access token gets one for a downstream API, for
 * the same subject, with narrower scope and an `act` claim naming itself. Which client may
 * exchange towards which API is the `token_exchange_policies` table. The subject is always a
 * user, who must still be able to sign in: a client's own token has no one to act for.
 */
export function registerTokenExchange(
  provider: Provider,
  { lookup, publishedKeys, accessTokenAlg, findAccount }: { lookup: ResourceLookup; publishedKeys: JWK[]; accessTokenAlg: 'ES256' | 'RS256'; findAccount: FindAccount },
) {
  const jwks = createLocalJWKSet({ keys: publishedKeys });

  function checkRequest({ params }: Oidc) {
    if (!params.subject_token) throw new errors.InvalidRequest('missing required parameter \'subject_token\'');
    if (params.subject_token_type !== ACCESS_TOKEN_TYPE) throw new errors.InvalidRequest('subject_token_type must be urn:ietf:params:oauth:token-type:access_token');
    if (params.requested_token_type && params.requested_token_type !== ACCESS_TOKEN_TYPE) throw new errors.InvalidRequest('only access tokens can be requested');
    if (params.actor_token || params.actor_token_type) throw new errors.InvalidRequest('actor_token is not supported; the authenticated client is the actor');
  }

  async function chooseTarget({ params, client }: Oidc): Promise<ClientResource> {
    const asked = [params.resource, params.audience].flat().filter((v): v is string => !!v);
    if (new Set(asked).size > 1) throw new errors.InvalidTarget('one exchange yields a token for one target; resource and audience name several');
    const targets = await lookup.exchangeTargets(client.clientId);
    const target = asked.length ? targets.find((t) => t.identifier === asked[0]) : targets.length === 1 ? targets[0] : undefined;
    if (!target) throw new errors.InvalidTarget(asked.length ? 'this client may not exchange tokens for that target' : 'resource is required');
    return target;
  }

  async function readSubject(value: string): Promise<Subject> {
    if (value.split('.').length === 3) {
      try {
        const { payload } = await jwtVerify(value, jwks, { issuer: provider.issuer, typ: 'at+jwt', requiredClaims: ['sub', 'exp'] });
        return { sub: String(payload.sub), aud: audiences(payload.aud), scopes: splitScope(payload.scope), exp: payload.exp!, act: payload.act as Subject['act'] };
      } catch {
        throw badSubject();
      }
    }
    const token = (await provider.AccessToken.find(value)) ?? (await provider.ClientCredentials.find(value));
    if (!token || token.isExpired) throw badSubject();
    if ('grantId' in token && token.grantId && !(await provider.Grant.find(token.grantId, {}))) throw badSubject();
    const accountId = 'accountId' in token ? token.accountId : undefined;
    const extra = (token as { extra?: { act?: Subject['act'] } }).extra;
    return { sub: accountId ?? token.clientId!, aud: audiences(token.aud), scopes: splitScope(token.scope), exp: token.exp!, act: extra?.act };
  }

  async function checkAudience({ client }: Oidc, subject: Subject) {
    if (subject.aud.includes(client.clientId)) return;
    const own = await lookup.forClient(client.clientId);
    if (!subject.aud.some((a) => own.some((r) => r.identifier === a))) {
      throw new errors.InvalidGrant('subject_token was not issued to this client or to an API it serves');
    }
  }

  async function checkAccount(ctx: Ctx, subject: Subject) {
    // A disabled user's JWTs stay valid until they expire; what they can still be exchanged for does not.
    if (!(await findAccount(ctx, subject.sub))) throw new errors.InvalidGrant('subject_token does not represent an active user');
  }

  function narrowScope({ params }: Oidc, subject: Subject, target: ClientResource): string[] {
    const grantable = subject.scopes.filter((s) => target.scopes.includes(s));
    const requested = splitScope(params.scope);
    const missing = requested.find((s) => !grantable.includes(s));
    if (missing) throw new errors.InvalidScope('requested scope exceeds the subject token and the exchange policy', missing);
    const scopes = requested.length ? requested : grantable;
    if (!scopes.length) throw new errors.InvalidScope('no scope of the subject token may be exchanged for this target', '');
    return scopes;
  }

  async function exchangeToken(ctx: Ctx) {
    const oidc = ctx.oidc as Oidc;
    checkRequest(oidc);
    const target = await chooseTarget(oidc);
    const subject = await readSubject(oidc.params.subject_token!);
    await checkAudience(oidc, subject);
    await checkAccount(ctx, subject);
    const scopes = narrowScope(oidc, subject, target);

    // The new token never outlives the one it was exchanged for.
    const expiresIn = Math.max(1, Math.min(target.ttl, subject.exp - Math.floor(Date.now() / 1000)));
    const token = new provider.AccessToken({
      accountId: subject.sub,
      client: oidc.client,
      gty: TOKEN_EXCHANGE,
      scope: scopes.join(' '),
      expiresIn,
      resourceServer: new provider.ResourceServer(target.identifier, {
        scope: target.scopes.join(' '),
        audience: target.identifier,
        accessTokenFormat: target.tokenFormat,
        accessTokenTTL: expiresIn,
        jwt: { sign: { alg: accessTokenAlg } },
      }),
    } as never);
    actOf.set(token, { sub: oidc.client.clientId, ...(subject.act && { act: subject.act }) });
    const value = await token.save();

    ctx.body = {
      access_token: value,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: expiresIn,
      scope: token.scope,
    };
  }

  // resource and audience may repeat (RFC 8693 §2.1); chooseTarget answers more than one target with invalid_target.
  provider.registerGrantType(TOKEN_EXCHANGE, exchangeToken, parameters, ['resource', 'audience']);
}
