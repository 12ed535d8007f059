import Koa from 'koa';
import type { Database } from '../core/database.ts';
import type { Logger } from '../core/logger.ts';
import { errorHandler, notFoundJson } from './middleware/errors.ts';
import { isProviderPath } from './paths.ts';
import type { ProviderHost } from './provider-host.ts';
import { createHealthRouter } from './routes/health.ts';

export interface AppDeps {
  db: Database;
  host: ProviderHost;
  log: Logger;
  trustProxy: boolean;
  /** Routers of later capabilities (interactions, admin, ...), mounted before the provider. */
  routers?: Array<{ routes(): Koa.Middleware; allowedMethods(): Koa.Middleware }>;
}

/** Gatehouse's own routes first, then oidc-provider for the paths it owns, then a JSON 404. */
export function createApp({ db, host, log, trustProxy, routers = [] }: AppDeps): Koa {
  const app = new Koa({ proxy: trustProxy });
  app.silent = true;
  app.use(errorHandler(log));
  for (const router of [createHealthRouter(db), ...routers]) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  app.use(async function delegateToProvider(ctx, next) {
    if (!isProviderPath(ctx.path)) return next();
    ctx.respond = false;
    await host.handle(ctx.req, ctx.res);
  });
  app.use(notFoundJson);
  return app;
}
