import Provider, { errors, type FindAccount, type KoaContextWithOIDC } from 'oidc-provider';
import type { ClientResource } from '../../core/apis/api-service.ts';
import { systemClock, type Clock } from '../../core/clock.ts';
import type { TokenVerifier, VerifiedToken } from '../../core/tokens/token-verifier.ts';
import { inheritClaims } from './token-claims.ts';
import type { ResourceLookup } from './resource-servers.ts';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const parameters = ['subject_token', 'subject_token_type', 'requested_token_type', 'actor_token', 'actor_token_type', 'resource', 'audience', 'scope'];

type Ctx = KoaContextWithOIDC;
type Oidc = Ctx['oidc'] & {
  params: Record<string, string | undefined> & { resource?: string | string[]; audience?: string | string[] };
  client: NonNullable<Ctx['oidc']['client']>;
};

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
  {
    lookup,
    verifier,
    accessTokenAlg,
    findAccount,
    now = systemClock,
  }: { lookup: ResourceLookup; verifier: TokenVerifier; accessTokenAlg: 'ES256' | 'RS256'; findAccount: FindAccount; now?: Clock },
) {
  function checkRequest({ params }: Oidc) {
    if (!params.subject_token) throw new errors.InvalidRequest("missing required parameter 'subject_token'");
    if (params.subject_token_type !== ACCESS_TOKEN_TYPE)
      throw new errors.InvalidRequest('subject_token_type must be urn:ietf:params:oauth:token-type:access_token');
    if (params.requested_token_type && params.requested_token_type !== ACCESS_TOKEN_TYPE)
      throw new errors.InvalidRequest('only access tokens can be requested');
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

  /** The subject token, verified as every Gatehouse token is (signature or storage, expiry, revocation list). */
  async function readSubject(value: string): Promise<VerifiedToken> {
    const verified = await verifier.verify(value);
    if (!verified.ok) throw badSubject();
    // The exchanged token would be a bearer token its holder could use without the subject's key.
    if (verified.token.jkt || verified.token.x5t) throw new errors.InvalidGrant('a sender-constrained (DPoP or mTLS) subject_token cannot be exchanged');
    return verified.token;
  }

  /** The subject token was issued to this client, or for an API this client is the resource server of. */
  async function checkAudience({ client }: Oidc, subject: VerifiedToken) {
    if (subject.audience.includes(client.clientId)) return;
    const served = await lookup.servedBy(client.clientId);
    if (!subject.audience.some((a) => served.includes(a))) {
      throw new errors.InvalidGrant('subject_token was not issued to this client or to an API it is the resource server of');
    }
  }

  async function checkAccount(ctx: Ctx, subject: VerifiedToken) {
    if (!subject.userId || !(await findAccount(ctx, subject.userId))) throw new errors.InvalidGrant('subject_token does not represent an active user');
  }

  function narrowScope({ params }: Oidc, subject: VerifiedToken, target: ClientResource): string[] {
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
    const expiresIn = Math.max(1, Math.min(target.ttl, subject.exp - Math.floor(now() / 1000)));
    const token = new provider.AccessToken({
      accountId: subject.userId,
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
    // It dies with the subject's grant (gid), whatever its format: the revocation list refuses it.
    inheritClaims(token, { act: { sub: oidc.client.clientId, ...(subject.act && { act: subject.act }) }, gid: subject.gid });
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
