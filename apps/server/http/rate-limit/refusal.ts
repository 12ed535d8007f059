import type { Context } from 'koa';
import { paths } from '../../paths.ts';
import type { Views } from '../../views.ts';

/** "1 second", "10 seconds": the wait a 429 asks for, in words. */
export const waitText = (seconds: number) => (seconds === 1 ? '1 second' : `${seconds} seconds`);

const isPage = (path: string) =>
  path.startsWith(paths.interactionUrl('')) || path === paths.authorization || path === paths.end_session || path.startsWith(`${paths.end_session}/`);

/**
 * Answers 429 with Retry-After: the sign-in pages' own "Too many attempts" page to a browser
 * (views/rate-limited.eta), `{"error":"rate_limited"}` to everyone else.
 */
export function refuseRateLimited(ctx: Context, retryAfterSeconds: number, views: Pick<Views, 'render'>): void {
  ctx.set('Retry-After', String(retryAfterSeconds));
  ctx.set('Cache-Control', 'no-store');
  if (isPage(ctx.path) && ctx.accepts('json', 'html') === 'html') {
    views.render(ctx, 'rate-limited', { wait: waitText(retryAfterSeconds) }, 429);
    return;
  }
  ctx.status = 429;
  ctx.body = rateLimitedBody(retryAfterSeconds);
}

export const rateLimitedBody = (retryAfterSeconds: number) => ({
  error: 'rate_limited',
  error_description: `too many requests; retry after ${waitText(retryAfterSeconds)}`,
});
