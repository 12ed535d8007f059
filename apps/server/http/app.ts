import type Router from '@koa/router';
import Koa from 'koa';
import type { Config } from '../../core/config/config.ts';
import type { Database } from '../../core/db/database.ts';
import type { Logger } from '../../core/logger.ts';
import { handleErrors, notFoundJson } from './errors.ts';
import { metricsRoute, type Metrics } from '../ops/metrics.ts';
import { paths } from '../paths.ts';
import { createHealthRouter } from '../ops/health.ts';
import { pinOriginToIssuer } from './issuer-origin.ts';
import type { Views } from '../views.ts';

export interface AppDeps {
  /** Every URL the app builds comes from here, never from the request's Host (http/issuer-origin.ts). */
  issuer: string;
  db: Database;
  log: Logger;
  /** The pages errors are rendered with, for a caller that wants a page (http/errors.ts). */
  views: Views;
  edge: Koa.Middleware[];
  trustedProxies: string[];
  metrics?: Metrics;
  /** Who may GET /metrics here (config.publicMetrics). */
  publicMetrics?: Config['publicMetrics'];
  /** Routers of later capabilities (interactions, static files, ...). */
  routers?: Router[];
}

/** Gatehouse's own routes (health, interactions, metrics), then a JSON 404. */
export function createApp({ issuer, db, log, views, edge, trustedProxies, metrics, publicMetrics = 'open', routers = [] }: AppDeps): Koa {
  // `proxy` is safe on because clientIp strips X-Forwarded-* unless the peer is a trusted proxy.
  const app = new Koa({ proxy: trustedProxies.length > 0 });
  pinOriginToIssuer(app, issuer);
  app.silent = true;
  for (const step of edge) app.use(step);
  app.use(handleErrors({ log, views }));
  if (metrics && publicMetrics !== 'off') app.use(metricsRoute(metrics, paths.metrics, publicMetrics === 'open' ? undefined : publicMetrics.token));
  for (const router of [createHealthRouter(db), ...routers]) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  app.use(notFoundJson);
  return app;
}
