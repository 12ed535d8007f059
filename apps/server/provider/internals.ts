// The one module that relies on oidc-provider behaviour outside its documented API. Everything
// here names the upstream file it depends on, and test/provider/internals.test.ts fails when an
// upgrade changes that behaviour. Nothing else in Gatehouse may reach into the provider this way.
import type { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';

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
