import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Context, Next } from 'koa';
import type { Logger } from '../../core/logger.ts';
import { requestScope, type RequestScope } from '../../core/request-context.ts';
import { paths } from '../paths.ts';

const saneRequestId = /^[A-Za-z0-9._:-]{8,128}$/;

const scopes = new WeakMap<IncomingMessage, RequestScope>();

/** The scope of the request a Node request object belongs to (oidc-provider's ctx shares it). */
export const scopeOf = (req: IncomingMessage) => scopes.get(req);

// Every label set a metric sees lives until the process ends, so labels are never request data:
// a path an attacker chooses would add series (and memory) with every request.
const fixedPaths = new Set(Object.values(paths).filter((p): p is Extract<typeof p, string> => typeof p === 'string' && !p.includes(':')) as string[]);
// Node's parser accepts some thirty methods; the rare ones are counted together.
const countedMethods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const maxLoggedPath = 512;

/**
 * A route label: the template of the route that matched (ours or oidc-provider's, both set
 * `_matchedRoute`), a fixed path of paths.ts that none matched (GET /token), else `unmatched`.
 */
function routeOf(ctx: Context): string {
  const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
  if (typeof matched === 'string') return matched;
  return fixedPaths.has(ctx.path) ? ctx.path : 'unmatched';
}

const methodLabel = (method: string) => (countedMethods.has(method) ? method : 'OTHER');

/** Node accepts request lines up to its header limit (16 KiB); one request writes a bounded line. */
const loggedPath = (path: string) => (path.length > maxLoggedPath ? `${path.slice(0, maxLoggedPath)}…[${path.length - maxLoggedPath} more characters]` : path);

/** A sane incoming X-Request-Id is kept, so a trace crosses the proxy; anything else is replaced. */
export const requestIdFrom = (incoming: string | undefined) => (incoming && saneRequestId.test(incoming) ? incoming : randomUUID());

export interface RequestObserver {
  observeRequest(labels: { method: string; route: string; status: number }, seconds: number): void;
}

export interface RequestRecord {
  method: string;
  route: string;
  path: string;
  status: number;
  seconds: number;
  clientId?: string;
  ip?: string;
}

/**
 * A request's metrics sample and its log line. The line has the path without its query string:
 * queries and bodies carry codes and tokens, and never reach the log. Call it inside the
 * request's scope, whose id the logger adds.
 */
export function recordRequest(log: Logger, observer: RequestObserver | undefined, { method, route, path, status, seconds, clientId, ip }: RequestRecord) {
  observer?.observeRequest({ method: methodLabel(method), route, status }, seconds);
  // Built only when written: with LOG_LEVEL above info, the line costs nothing.
  if (log.isLevelEnabled('info'))
    log.info({ method, route, path: loggedPath(path), status, durationMs: Math.round(seconds * 10_000) / 10, client_id: clientId, ip }, 'request');
}

/**
 * Gives each request an id (requestIdFrom), echoes it in the response, opens the request scope
 * every log line and audit event reads, and records the request once answered (recordRequest).
 */
export function requestLog(log: Logger, observer?: RequestObserver) {
  return async function logRequest(ctx: Context, next: Next) {
    const started = performance.now();
    const scope: RequestScope = {
      requestId: requestIdFrom(ctx.get('x-request-id')),
      path: ctx.path,
      userAgent: ctx.get('user-agent').slice(0, 512) || undefined,
    };
    scopes.set(ctx.req, scope);
    ctx.set('X-Request-Id', scope.requestId);
    ctx.state.requestScope = scope;
    await requestScope.run(scope, async () => {
      try {
        await next();
      } finally {
        recordRequest(log, observer, {
          method: ctx.method,
          route: routeOf(ctx),
          path: ctx.path,
          status: ctx.status,
          seconds: (performance.now() - started) / 1000,
          clientId: scope.clientId ?? ctx.state.claimedClientId,
          ip: scope.ip,
        });
      }
    });
  };
}
