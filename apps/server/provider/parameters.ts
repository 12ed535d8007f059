import type { Context, Next } from 'koa';
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { firstControlCharacter } from '../http/form-body.ts';

type RenderError = NonNullable<Configuration['renderError']>;

/**
 * Refuses a protocol request whose query parameters hold a control character, with the
 * `invalid_request` answer the endpoint gives any other malformed parameter (a page in a browser,
 * JSON otherwise). Such values would otherwise reach PostgreSQL (a NUL in a `state` stored with
 * the interaction) and fail there as a 500. Form bodies are oidc-provider's to read; what they
 * carry into storage is refused by the adapter (payload-adapter.ts), and a client id that cannot
 * be one is never looked up (client-adapter.ts).
 */
export function refuseControlCharacters(renderError: RenderError) {
  // As oidc-provider's own error handler answers (lib/shared/error_handler.js): a page only for a
  // caller that prefers HTML, JSON otherwise.
  const refuse = async (ctx: Context, description: string) => {
    ctx.status = 400;
    const out = { error: 'invalid_request', error_description: description };
    if (ctx.accepts('json', 'html') === 'html') await renderError(ctx as KoaContextWithOIDC, out, Object.assign(new Error(description), out));
    else ctx.body = out;
  };
  return async function refuseControlCharacters(ctx: Context, next: Next) {
    const bad = ctx.querystring ? firstControlCharacter(new URLSearchParams(ctx.querystring)) : undefined;
    if (bad) return refuse(ctx, `${bad} must not contain control characters`);
    await next();
  };
}
