import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Context, Next } from 'koa';
import type { Logger } from '../../core/logger.ts';
import { requestScope, type RequestScope } from '../../core/request-context.ts';
import { isProviderPath } from '../paths.ts';

const saneRequestId = /^[A-Za-z0-9._:-]{8,128}$/;

const scopes = new WeakMap<IncomingMessage, RequestScope>();

/** The scope of the request a Node request object belongs to (oidc-provider's ctx shares it). */
export const scopeOf = (req: IncomingMessage) => scopes.get(req);

/** A bounded route label for metrics: the router's template, a provider path, or `unmatched`. */
function routeOf(ctx: Context): string {
  const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
  if (typeof matched === 'string') return matched;
  return isProviderPath(ctx.path) ? ctx.path : 'unmatched';
}

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
  observer?.observeRequest({ method, route, status }, seconds);
  // Built only when written: with LOG_LEVEL above info, the line costs nothing.
  if (log.isLevelEnabled('info')) log.info({ method, route, path, status, durationMs: Math.round(seconds * 10_000) / 10, client_id: clientId, ip }, 'request');
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
