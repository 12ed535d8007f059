import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import { DatabaseUnavailable } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { answerOf, sendAnswer } from '../http/errors.ts';
import type { Views } from '../views.ts';
import { onGrantTypeNotAllowed } from './internals.ts';

/**
 * oidc-provider answers a database outage itself, as the 503 `temporarily_unavailable` the
 * database layer throws (core/errors.ts DatabaseUnavailable, shaped as provider/internals.ts
 * `RenderedByProvider` says), but sets no Retry-After, which load balancers and clients read to
 * know when to try again. Nothing else it answers is a 503.
 */
export function retryAfterOutage(log: Pick<Logger, 'warn'>) {
  return async function retryAfterOutage(ctx: Context, next: Next) {
    await next();
    if (ctx.status !== 503 || ctx.response.get('Retry-After')) return;
    ctx.set('Retry-After', String(DatabaseUnavailable.retryAfterSeconds));
    log.warn({ path: ctx.path }, 'database unreachable');
  };
}

/**
 * RFC 6749 §5.2: an authenticated client that uses a grant type it is not allowed gets
 * `unauthorized_client`. oidc-provider 9 answers `invalid_request`, and only after it has rendered
 * can the answer be corrected (provider/internals.ts `onGrantTypeNotAllowed` says why and how it
 * is told); nothing is added to the path of a successful request.
 */
export function answerUnauthorizedClientPerRfc6749(provider: Provider, views: Pick<Views, 'render'>) {
  onGrantTypeNotAllowed(provider, (ctx) => {
    sendAnswer(ctx, answerOf(new errors.UnauthorizedClient('requested grant type is not allowed for this client')), views);
  });
}
