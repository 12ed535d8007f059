// The one module that relies on oidc-provider behaviour outside its documented API. Everything
// here names the upstream file it depends on, and test/provider/internals.test.ts fails when an
// upgrade changes that behaviour. Nothing else in Gatehouse may reach into the provider this way.
import type { IncomingMessage } from 'node:http';

/**
 * Hands a form body Gatehouse has already read to oidc-provider. When the request stream is
 * consumed, oidc-provider's body parser takes `req.body` instead (lib/shared/selective_body.js,
 * `ctx.req.body || ctx.request.body`), parsing a string as a query string.
 */
export function handBodyToProvider(req: IncomingMessage, text: string): void {
  (req as IncomingMessage & { body?: string }).body = text;
}
