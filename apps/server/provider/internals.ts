// The one module that relies on oidc-provider behaviour outside its documented API. Everything
// here names the upstream file it depends on, and test/provider/internals.test.ts fails when an
// upgrade changes that behaviour. Nothing else in Gatehouse may reach into the provider this way.
import type { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type Provider from 'oidc-provider';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';

/**
 * Hands a form body Gatehouse has already read to oidc-provider. When the request stream is
 * consumed, oidc-provider's body parser takes `req.body` instead (lib/shared/selective_body.js,
 * `ctx.req.body || ctx.request.body`), parsing a string as a query string. The first time it
 * does, oidc-provider warns once on stderr ("already parsed request body detected"). Only the
 * introspection and revocation endpoints are read ahead (provider/structured-tokens.ts).
 */
export function handBodyToProvider(req: IncomingMessage, text: string): void {
  (req as IncomingMessage & { body?: string }).body = text;
}

type ProviderClient = NonNullable<Awaited<ReturnType<Provider['Client']['find']>>>;
type Listener = (ctx: KoaContextWithOIDC, client: ProviderClient) => void;

/**
 * Calls `listener` as soon as a request's client is known: at the token, introspection,
 * revocation and PAR endpoints, when client authentication has found the client the request
 * names and before it checks the credential (elsewhere too: authorization, logout, userinfo).
 * A listener that throws ends the request with that error, rendered by the endpoint.
 *
 * oidc-provider emits `assign.client` on each request's OIDCContext when the client is set
 * (lib/helpers/oidc_context.js, `entity()`), and creates that context lazily as
 * `new provider.OIDCContext(ctx)` (lib/helpers/initialize_app.js, `ensureOIDC`), after every
 * `provider.use` step has started, so no step can reach it in time. The provider's own
 * `OIDCContext` is therefore shadowed by a subclass that listens from its construction.
 */
export function onClientAssigned(provider: Provider, listener: Listener): void {
  const Base = provider.OIDCContext as unknown as new (ctx: unknown) => EventEmitter;
  class ListeningContext extends Base {
    constructor(ctx: unknown) {
      super(ctx);
      this.on('assign.client', listener);
    }
  }
  Object.defineProperty(provider, 'OIDCContext', { value: ListeningContext, configurable: true });
}

/**
 * What oidc-provider's error handlers render an error by, whatever its class: `statusCode` is the
 * status; when `expose` is true, `message` is the `error` and `error_description` its
 * description; anything else is a 500 `server_error` (lib/shared/error_handler.js and
 * lib/shared/authorization_error_handler.js, through lib/helpers/err_out.js). core/errors.ts
 * `DatabaseUnavailable` has these fields, so an outage met inside an endpoint is answered by the
 * endpoint as 503 `temporarily_unavailable`; provider/error-answers.ts adds the Retry-After.
 */
export type RenderedByProvider = Pick<errors.OIDCProviderError, 'statusCode' | 'expose' | 'message' | 'error_description'>;

// oidc-provider refuses these (400 invalid_request) after it has found the client and before it
// authenticates it, unless attestation-based client authentication is enabled (it is not here).
export const presentsAttestation = (ctx: Pick<KoaContextWithOIDC, 'get'>) =>
  ctx.get('oauth-client-attestation') !== '' || ctx.get('oauth-client-attestation-pop') !== '';

/**
 * Calls `listener` once oidc-provider has answered a token request whose client authenticated
 * but may not use the grant type it asked for, so that the listener answers it again.
 *
 * oidc-provider 9 refuses that with `invalid_request` in `allowedGrantTypeCheck`
 * (lib/actions/token.js), the step right after client authentication
 * (lib/shared/client_auth.js) and the `grant_type` checks; no documented hook runs between
 * them, and its error handler (lib/shared/error_handler.js) renders before it emits
 * `grant.error`. Told from the request's state, not from the description: a 400
 * `invalid_request` whose request has its client (assigned by client authentication), presents
 * no attestation, and names one grant type the client may not use. Given the order of the steps
 * in token.js, only `allowedGrantTypeCheck` ends a request there: a missing or repeated
 * `grant_type` leaves it undefined, an unsupported one is `unsupported_grant_type`, a failed
 * authentication `invalid_client`, and every later step runs only for an allowed grant type.
 */
export function onGrantTypeNotAllowed(provider: Provider, listener: (ctx: KoaContextWithOIDC) => void): void {
  provider.on('grant.error', (ctx, error) => {
    if (!(error instanceof errors.InvalidRequest) || error.statusCode !== 400) return;
    const { client, params } = ctx.oidc;
    const grantType = params?.grant_type;
    if (!client || typeof grantType !== 'string' || client.grantTypeAllowed(grantType) || presentsAttestation(ctx)) return;
    listener(ctx);
  });
}

export type RedeemedKind = 'authorization_code' | 'refresh_token';

/**
 * Tells, for a failed token request, whether it presented an authorization code or refresh
 * token that an earlier request had already redeemed, as oidc-provider found it (one redeemed by
 * a concurrent request is refused by the adapter instead: payload-adapter.ts `RedeemedTwice`).
 * - A refresh token: the request's `RefreshToken` entity is the token read, and it is consumed;
 *   lib/actions/grants/refresh_token.js assigns the entity before it refuses a consumed token.
 * - An authorization code is no entity yet when a consumed one is refused
 *   (lib/actions/grants/authorization_code.js assigns it after `consumeGrantSource`), but
 *   refusing it revokes its grant first (lib/helpers/grant_source.js `consumeGrantSource`, then
 *   lib/helpers/revoke.js emits `grant.revoked` on the request's context), and nothing else
 *   revokes a grant while a code is redeemed.
 * Call once per provider; the function it returns answers for any request after.
 */
export function watchRedemptions(provider: Provider): (ctx: KoaContextWithOIDC, error: unknown) => RedeemedKind | undefined {
  const revokedDuring = new WeakSet<object>();
  provider.on('grant.revoked', (ctx) => {
    if (ctx.oidc?.route === 'token') revokedDuring.add(ctx);
  });
  return (ctx, error) => {
    if (!(error instanceof errors.InvalidGrant)) return undefined;
    const grantType = ctx.oidc?.params?.grant_type;
    if (grantType === 'refresh_token' && ctx.oidc.entities.RefreshToken?.consumed) return 'refresh_token';
    if (grantType === 'authorization_code' && revokedDuring.has(ctx)) return 'authorization_code';
    return undefined;
  };
}
