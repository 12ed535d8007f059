import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type Koa from 'koa';
import type { Logger } from '../../core/logger.ts';
import type { Metrics } from '../ops/metrics.ts';
import { clientIp } from './client-ip.ts';
import { requestLog } from './request-log.ts';
import { securityHeaders } from './security-headers.ts';

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

/** A request header's value when Node gives it as one string, else undefined. */
export const single = (value: string | string[] | undefined) => (typeof value === 'string' ? value : undefined);

/** A JSON answer on the plain-Node path, with its type and length. */
export function writeJson(res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: unknown, type = 'application/json') {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'Content-Type': `${type}; charset=utf-8`, 'Content-Length': String(Buffer.byteLength(text)) });
  res.end(text);
}

/**
 * A request answered in plain Node, before Koa (discovery and JWKS from memory, the gateway's
 * decisions): true when it answered, false to leave the request to the full path.
 */
export type EdgeAnswer = (req: IncomingMessage, res: ServerResponse, path: string) => boolean;
