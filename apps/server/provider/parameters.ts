import type { Context, Next } from 'koa';
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { BodyTooLarge, firstControlCharacter, PROVIDER_BODY_LIMIT, readBody } from '../http/form-body.ts';
import { handBodyToProvider } from './internals.ts';

type RenderError = NonNullable<Configuration['renderError']>;

/**
 * Refuses a protocol request whose query or form parameters hold a control character, with the
 * `invalid_request` answer the endpoint gives any other malformed parameter (a page in a browser,
 * JSON otherwise). Such values would otherwise reach PostgreSQL (a NUL in `client_id`, or in a
 * `state` stored with the interaction) and fail there as a 500. The form is read here once and
 * handed on, so oidc-provider parses it from memory.
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
    let bad = ctx.querystring ? firstControlCharacter(new URLSearchParams(ctx.querystring)) : undefined;
    if (!bad && ctx.method === 'POST' && ctx.is('application/x-www-form-urlencoded')) {
      let text: string;
      try {
        text = await readBody(ctx.req, PROVIDER_BODY_LIMIT);
      } catch (error) {
        if (error instanceof BodyTooLarge) return refuse(ctx, 'failed to parse the request body');
        throw error;
      }
      handBodyToProvider(ctx.req, text);
      bad = firstControlCharacter(new URLSearchParams(text));
    }
    if (bad) return refuse(ctx, `${bad} must not contain control characters`);
    await next();
  };
}
