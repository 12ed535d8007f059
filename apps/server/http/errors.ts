import type { Context, Next } from 'koa';
import { AppError } from '../../core/errors.ts';
import { isDatabaseUnavailable } from '../../core/db/database.ts';

export interface ErrorLogger {
  error(fields: Record<string, unknown>, message: string): void;
}

export const databaseUnavailableBody = {
  error: 'temporarily_unavailable',
  error_description: 'the service is temporarily unavailable, try again shortly',
};

/**
 * The one error handler for Gatehouse's own routes: an AppError shows its code and message,
 * a database outage is a 503, and anything else is a `server_error` whose detail goes only
 * to the log.
 */
export function errorHandler(log: ErrorLogger) {
  return async function handleErrors(ctx: Context, next: Next) {
    try {
      await next();
    } catch (error) {
      if (error instanceof AppError && error.expose) {
        ctx.status = error.status;
        ctx.body = { error: error.code, error_description: error.message };
        return;
      }
      if (isDatabaseUnavailable(error)) {
        ctx.status = 503;
        ctx.set('Retry-After', '5');
        ctx.body = databaseUnavailableBody;
        return;
      }
      const status = (error as { status?: number; expose?: boolean }).status;
      if (status && status < 500 && (error as { expose?: boolean }).expose) {
        ctx.status = status;
        ctx.body = { error: 'invalid_request', error_description: (error as Error).message };
        return;
      }
      log.error({ err: error, path: ctx.path }, 'unhandled error');
      ctx.status = 500;
      ctx.body = { error: 'server_error', error_description: 'an unexpected error occurred' };
    }
  };
}

export async function notFoundJson(ctx: Context) {
  ctx.status = 404;
  ctx.body = { error: 'not_found', error_description: `no route for ${ctx.method} ${ctx.path}` };
}
