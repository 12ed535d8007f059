import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type pg from 'pg';

/**
 * Prometheus metrics in a registry of their own (never prom-client's global one), so several
 * servers can run in one process, as they do in tests.
 */
export function createMetrics(options: { pool?: pg.Pool } = {}) {
  const registry = new Registry();
  // Unprefixed, as every Prometheus client names them (process_cpu_seconds_total,
  // nodejs_eventloop_lag_seconds): standard dashboards and alert rules query these names.
  collectDefaultMetrics({ register: registry });

  const requests = new Counter({
    name: 'gatehouse_http_requests_total',
    help: 'HTTP requests answered, by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'gatehouse_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const tokens = new Counter({
    name: 'gatehouse_tokens_issued_total',
    help: 'Tokens issued, by kind, grant type and client',
    labelNames: ['kind', 'grant_type', 'client_id'] as const,
    registers: [registry],
  });
  const logins = new Counter({
    name: 'gatehouse_logins_total',
    help: 'Password checks, by outcome (succeeded, failed, locked)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const rateLimited = new Counter({
    name: 'gatehouse_rate_limit_rejections_total',
    help: 'Requests refused with 429, by the limit that refused them',
    labelNames: ['rule'] as const,
    registers: [registry],
  });
  const lockouts = new Counter({
    name: 'gatehouse_lockouts_total',
    help: 'Accounts locked after too many failed passwords',
    registers: [registry],
  });
  const decisions = new Counter({
    name: 'gatehouse_authz_decisions_total',
    help: 'Policy decisions, by outcome (permit, deny, invalid)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const engineTime = new Histogram({
    name: 'gatehouse_authz_engine_seconds',
    help: 'Time the policy engine (Cedar) took for one decision',
    buckets: [0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.0025, 0.01],
    registers: [registry],
  });
  const { pool } = options;
  if (pool) {
    new Gauge({
      name: 'gatehouse_db_pool_connections',
      help: 'Database pool connections, by state (total, idle, waiting requests)',
      labelNames: ['state'] as const,
      registers: [registry],
      collect() {
        this.set({ state: 'total' }, pool.totalCount);
        this.set({ state: 'idle' }, pool.idleCount);
        this.set({ state: 'waiting' }, pool.waitingCount);
      },
    });
  }

  return {
    registry,
    observeRequest(labels: { method: string; route: string; status: number }, seconds: number) {
      const l = { method: labels.method, route: labels.route, status: String(labels.status) };
      requests.inc(l);
      duration.observe(l, seconds);
    },
    tokenIssued: (kind: string, grantType: string, clientId: string) => tokens.inc({ kind, grant_type: grantType, client_id: clientId }),
    login: (outcome: 'succeeded' | 'failed' | 'locked') => logins.inc({ outcome }),
    rateLimited: (rule: string) => rateLimited.inc({ rule }),
    lockout: () => lockouts.inc(),
    decision({ decision, invalid, engineSeconds }: { decision: boolean; invalid: boolean; engineSeconds: number }) {
      decisions.inc({ outcome: invalid ? 'invalid' : decision ? 'permit' : 'deny' });
      if (!invalid) engineTime.observe(engineSeconds);
    },
    render: () => registry.metrics(),
    contentType: registry.contentType,
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** A listener that serves only /metrics, for METRICS_PORT. */
export async function startMetricsServer(metrics: Metrics, host: string, port: number): Promise<Server> {
  const server = createServer(async (req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': metrics.contentType, 'Cache-Control': 'no-store' }).end(await metrics.render());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

/**
 * GET /metrics on the public app, when no METRICS_PORT is configured: to anyone in development,
 * to a bearer of METRICS_TOKEN when one is set (the comparison takes constant time).
 */
export function metricsRoute(metrics: Metrics, path: string, token?: string) {
  const expected = token === undefined ? undefined : createHash('sha256').update(token).digest();
  return async function serveMetrics(ctx: import('koa').Context, next: import('koa').Next) {
    if (ctx.path !== path || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    if (expected) {
      const presented = /^Bearer (\S+)$/i.exec(ctx.get('authorization'))?.[1] ?? '';
      if (!timingSafeEqual(createHash('sha256').update(presented).digest(), expected)) {
        ctx.status = 401;
        ctx.set('WWW-Authenticate', 'Bearer realm="metrics"');
        ctx.body = { error: 'invalid_token', error_description: 'metrics need the METRICS_TOKEN bearer token' };
        return;
      }
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.type = metrics.contentType;
    ctx.body = await metrics.render();
  };
}

/** Counts login outcomes and lockouts as the audit trail records them (core knows no metrics). */
export function countAuditEvents(metrics: Metrics) {
  return (event: { type: string; details?: Record<string, unknown> }) => {
    if (event.type === 'login.succeeded') metrics.login('succeeded');
    else if (event.type === 'login.failed') metrics.login(event.details?.reason === 'locked' ? 'locked' : 'failed');
    else if (event.type === 'login.locked_out') metrics.lockout();
  };
}
