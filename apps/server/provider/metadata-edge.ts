import { requestScope } from '../../core/request-context.ts';
import { single, type EdgeAnswer, type EdgeDeps } from '../http/edge.ts';
import { createProxyMatcher, resolveClientIp } from '../http/client-ip.ts';
import type { MetadataCache } from './metadata-cache.ts';
import type { RateLimits } from '../http/rate-limit/rate-limits.ts';
import { recordRequest, requestIdFrom } from '../http/request-log.ts';
import { securityHeaderValues } from '../http/security-headers.ts';

/** The same settings the Koa edge steps are built from (http/app.ts), plus what this path reads. */
export interface MetadataEdgeDeps extends Pick<EdgeDeps, 'log' | 'trustedProxies' | 'https' | 'metrics' | 'pageHeaders'> {
  /** The metadata cache of the provider serving now (each provider build has its own). */
  cache: () => MetadataCache | undefined;
  rateLimits?: Pick<RateLimits, 'admits'>;
}

/**
 * Discovery and JWKS are what relying parties and resource servers fetch most, and once
 * rendered they do not change. Answering them here, before Koa and oidc-provider, costs about
 * half the CPU of the full path, with the same edge steps: request id, security headers,
 * the client's address and its request ceiling, the log line and metrics. What it cannot answer
 * (a document not rendered yet, a request over the ceiling) takes the full path, which answers
 * it the same way.
 */
export function createMetadataEdge({ cache, rateLimits, log, trustedProxies, https = false, metrics, pageHeaders }: MetadataEdgeDeps): EdgeAnswer {
  const headers = securityHeaderValues({ https, page: pageHeaders });
  const isTrustedProxy = createProxyMatcher(trustedProxies);
  return function answerMetadataAtEdge(req, res, path) {
    const { method } = req;
    // Every protocol request passes here: the ones that cannot be answered leave at once.
    if (method !== 'GET' && method !== 'HEAD') return false;
    const started = performance.now();
    const answer = cache()?.answer(method, path, single(req.headers['if-none-match']));
    if (!answer) return false;
    const ip = resolveClientIp(req.socket.remoteAddress ?? '', single(req.headers['x-forwarded-for']), isTrustedProxy);
    if (rateLimits && !rateLimits.admits(ip)) return false;
    const requestId = requestIdFrom(single(req.headers['x-request-id']));
    res.writeHead(answer.status, { 'X-Request-Id': requestId, ...headers, ...answer.headers });
    res.end(answer.body);
    const seconds = (performance.now() - started) / 1000;
    requestScope.run({ requestId, path, ip }, () => recordRequest(log, metrics, { method, route: path, path, status: answer.status, seconds, ip }));
    return true;
  };
}
