import type Router from '@koa/router';
import type { RequestListener } from 'node:http';
import Koa from 'koa';
import type { Config } from '../core/config.ts';
import type { Database } from '../core/database.ts';
import type { Logger } from '../core/logger.ts';
import { clientIp } from './middleware/client-ip.ts';
import { errorHandler, notFoundJson } from './middleware/errors.ts';
import { requestLog } from './middleware/request-log.ts';
import { securityHeaders } from './middleware/security-headers.ts';
import type { EdgeAnswer } from './metadata-edge.ts';
import { metricsRoute, type Metrics } from './metrics.ts';
import { isProviderPath, paths } from './paths.ts';
import type { ProviderHost } from './provider-host.ts';
import { createHealthRouter } from './routes/health.ts';
import { pinOriginToIssuer } from './http/issuer-origin.ts';

export interface EdgeDeps {
  log: Logger;
  /** Proxies whose X-Forwarded-* headers are believed; everyone else's are stripped (client-ip.ts). */
  trustedProxies: string[];
  /** Whether the issuer is https (HSTS). */
  https?: boolean;
  metrics?: Metrics;
  /** The per-address request ceiling (http/rate-limit/rate-limits.ts), after the client's address is known. */
  rateLimit?: Koa.Middleware;
  /** Page headers for an app whose every answer may be a page, set with the others (security-headers.ts). */
  pageHeaders?: Record<string, string>;
}

/**
 * What every request meets first, whichever Koa app serves it: request id and log line,
 * security headers, the client's IP, rate limits. The provider gets the same steps through
 * `provider.use`, so a protocol request runs through one Koa context, not one nested in another.
 */
export function edgeMiddleware({ log, trustedProxies, https = false, metrics, rateLimit, pageHeaders }: EdgeDeps): Koa.Middleware[] {
  return [requestLog(log, metrics), securityHeaders({ https, page: pageHeaders }), clientIp(trustedProxies), ...(rateLimit ? [rateLimit] : [])];
}

export interface AppDeps {
  /** Every URL the app builds comes from here, never from the request's Host (http/issuer-origin.ts). */
  issuer: string;
  db: Database;
  log: Logger;
  edge: Koa.Middleware[];
  trustedProxies: string[];
  metrics?: Metrics;
  /** Who may GET /metrics here (config.publicMetrics). */
  publicMetrics?: Config['publicMetrics'];
  /** Routers of later capabilities (interactions, static files, ...). */
  routers?: Router[];
}

/** Gatehouse's own routes (health, interactions, metrics), then a JSON 404. */
export function createApp({ issuer, db, log, edge, trustedProxies, metrics, publicMetrics = 'open', routers = [] }: AppDeps): Koa {
  // `proxy` is safe on because clientIp strips X-Forwarded-* unless the peer is a trusted proxy.
  const app = new Koa({ proxy: trustedProxies.length > 0 });
  pinOriginToIssuer(app, issuer);
  app.silent = true;
  for (const step of edge) app.use(step);
  app.use(errorHandler(log));
  if (metrics && publicMetrics !== 'off') app.use(metricsRoute(metrics, paths.metrics, publicMetrics === 'open' ? undefined : publicMetrics.token));
  for (const router of [createHealthRouter(db), ...routers]) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  app.use(notFoundJson);
  return app;
}

/**
 * Sends oidc-provider's paths to the current provider and everything else to our app; a
 * provider path that `answerAtEdge` can answer from memory (metadata-edge.ts) goes neither way.
 */
export function dispatch(host: ProviderHost, app: Koa, answerAtEdge: EdgeAnswer = () => false): RequestListener {
  const ours = app.callback();
  return function dispatchRequest(req, res) {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    if (!isProviderPath(path)) void ours(req, res);
    else if (!answerAtEdge(req, res, path)) void host.handle(req, res);
  };
}
