import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { isDatabaseUnavailable } from '../../core/db/database.ts';
import { databaseUnavailableBody } from '../http/errors.ts';

const dbDown = Symbol('databaseUnavailable');

/**
 * oidc-provider renders every unexpected error as a 500 `server_error`. When the cause is a
 * database outage the honest answer is 503 with Retry-After, which load balancers and clients
 * know to retry.
 */
export function answerDatabaseOutagesWith503(provider: Provider) {
  provider.on('server_error', (ctx: Context, error: unknown) => {
    if (isDatabaseUnavailable(error)) (ctx.state as Record<symbol, boolean>)[dbDown] = true;
  });
  return async function databaseOutageTo503(ctx: Context, next: Next) {
    await next();
    if ((ctx.state as Record<symbol, boolean>)[dbDown]) {
      ctx.status = 503;
      ctx.set('Retry-After', '5');
      ctx.type = 'json';
      ctx.body = databaseUnavailableBody;
    }
  };
}

/**
 * RFC 6749 §5.2: an authenticated client that uses a grant type it is not allowed gets
 * `unauthorized_client`. oidc-provider 9 answers `invalid_request` (lib/actions/token.js); its
 * error handler has already rendered the JSON when it emits `grant.error`, so the answer is
 * corrected there, and nothing is added to the path of a successful request.
 */
export function answerUnauthorizedClientPerRfc6749(provider: Provider) {
  provider.on('grant.error', (ctx: Context, error: { error?: string; error_description?: string }) => {
    if (error.error !== 'invalid_request' || error.error_description !== 'requested grant type is not allowed for this client') return;
    const body = ctx.body as { error?: string } | undefined;
    if (body?.error === 'invalid_request') ctx.body = { ...body, error: 'unauthorized_client' };
  });
}
