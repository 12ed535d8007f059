import type { Context, Next } from 'koa';
import type { Clock } from '../../../core/clock.ts';
import type { Config } from '../../../core/config/config.ts';
import type { Database } from '../../../core/db/database.ts';
import { createBuckets, type Decision } from '../../../core/rate-limits/buckets.ts';
import { createRateLimitQueries } from '../../../core/rate-limits/queries.ts';
import { paths } from '../../paths.ts';
import type { Views } from '../../views.ts';
import { addressKey } from './address-key.ts';
import { createClientAuthLimits } from './client-auth.ts';
import { refuseRateLimited } from './refusal.ts';

/** A per-address budget spent only on failures: checked before the attempt, spent after a failed one. */
export interface FailureBudget {
  /** Whether the address may try once more; a refusal is counted in the metrics. */
  check(clientIp: string): Decision;
  spend(clientIp: string): void;
}

export type RateLimits = ReturnType<typeof createRateLimits>;

// Liveness and scrapes must answer whatever else a caller does (a scrape has its own port in production).
const unlimited = new Set<string>([paths.healthz, paths.metrics]);

/**
 * Every rate limit, on one set of token buckets (core/rate-limits) shared by the instances:
 * - `address`: a request ceiling per client address on every endpoint (the edge step, and the
 *   metadata edge through `admits`);
 * - `readyz`: a small one for /readyz, which runs a database query per call;
 * - `client_auth_failures` and `client`: client authentication (client-auth.ts);
 * - `login_failures`: failed password checks per address (interactions/login.ts).
 * Those names are the `rule` label of gatehouse_rate_limit_rejections_total.
 */
export function createRateLimits({
  db,
  config,
  views,
  onError,
  onReject = () => {},
  clock,
}: {
  db: Database;
  config: Config['rateLimit'];
  views: Pick<Views, 'render'>;
  onError: (error: unknown) => void;
  onReject?: (rule: string) => void;
  /** What the buckets refill by. */
  clock?: Clock;
}) {
  const buckets = createBuckets({ queries: createRateLimitQueries(db), syncMs: config.syncMs, onError, now: clock });

  async function limitAddress(ctx: Context, next: Next) {
    if (unlimited.has(ctx.path)) return next();
    const address = addressKey(ctx.state.clientIp);
    let rule = 'address';
    let decision = buckets.take(rule, address, config.perAddress);
    if (decision.allowed && ctx.path === paths.readyz) decision = buckets.take((rule = 'readyz'), address, config.readyz);
    if (decision.allowed) return next();
    onReject(rule);
    refuseRateLimited(ctx, decision.retryAfterSeconds, views);
  }

  const failureBudget = (rule: string, limit: Config['rateLimit']['loginFailures']): FailureBudget => ({
    check(clientIp) {
      const decision = buckets.check(rule, addressKey(clientIp), limit);
      if (!decision.allowed) onReject(rule);
      return decision;
    },
    spend: (clientIp) => buckets.spend(rule, addressKey(clientIp), limit),
  });

  return {
    /** The edge step, after the client's address is known (client-ip.ts). */
    edge: limitAddress,
    /**
     * For a request only the address ceiling applies to (a GET of discovery or JWKS): counts it
     * and answers true when it fits; false sends it down the full path, which refuses it.
     */
    admits: (clientIp: string) => buckets.take('address', addressKey(clientIp), config.perAddress).allowed,
    loginFailures: failureBudget('login_failures', config.loginFailures),
    /** Bad bearer tokens at the policy decision point, from the same budget as failed client authentications. */
    bearerFailures: failureBudget('client_auth_failures', config.clientAuthFailures),
    clientAuthentication: createClientAuthLimits({ buckets, failures: config.clientAuthFailures, perClient: config.perClient, onReject }),
    close: () => buckets.close(),
  };
}
