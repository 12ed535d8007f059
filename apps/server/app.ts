import type Router from '@koa/router';
import Koa from 'koa';
import type { Database } from '../core/database.ts';
import type { Logger } from '../core/logger.ts';
import { clientIp } from './middleware/client-ip.ts';
import { errorHandler, notFoundJson } from './middleware/errors.ts';
import { requestLog } from './middleware/request-log.ts';
import { securityHeaders } from './middleware/security-headers.ts';
import { metricsRoute, type Metrics } from './metrics.ts';
import { isProviderPath, paths } from './paths.ts';
import type { ProviderHost } from './provider-host.ts';
import { createHealthRouter } from './routes/health.ts';

export interface AppDeps {
  db: Database;
  host: ProviderHost;
  log: Logger;
  /** Proxies whose X-Forwarded-* headers are believed; everyone else's are stripped (client-ip.ts). */
  trustedProxies: string[];
  /** Whether the issuer is https (HSTS). */
  https?: boolean;
  metrics?: Metrics;
  /** Serve GET /metrics here (false when METRICS_PORT gives it a listener of its own). */
  serveMetrics?: boolean;
  /** Rate limiting (middleware/rate-limit.ts), after the client IP is known. */
  rateLimit?: Koa.Middleware;
  /** Routers of later capabilities (interactions, admin, ...), mounted before the provider. */
  routers?: Router[];
}

/** Gatehouse's own routes first, then oidc-provider for the paths it owns, then a JSON 404. */
export function createApp({ db, host, log, trustedProxies, https = false, metrics, serveMetrics = true, rateLimit, routers = [] }: AppDeps): Koa {
  // `proxy` is safe on because clientIp strips X-Forwarded-* unless the peer is a trusted proxy.
  const app = new Koa({ proxy: trustedProxies.length > 0 });
  app.silent = true;
  app.use(requestLog(log, metrics));
  app.use(securityHeaders({ https }));
  app.use(clientIp(trustedProxies));
  app.use(errorHandler(log));
  if (metrics && serveMetrics) app.use(metricsRoute(metrics, paths.metrics));
  if (rateLimit) app.use(rateLimit);
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
