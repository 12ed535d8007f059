import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { ClientRecord } from '../../../core/clients/client-service.ts';
import type { Buckets } from '../../../core/rate-limits/buckets.ts';
import type { Limit } from '../../../core/rate-limits/rate.ts';
import type { ClientLookup } from '../../provider/client-adapter.ts';
import { paths } from '../../paths.ts';
import { onClientAssigned, presentsAttestation } from '../../provider/internals.ts';
import { addressKey } from './address-key.ts';
import { rateLimitedBody } from './refusal.ts';

export interface ClientAuthLimitsDeps {
  buckets: Buckets;
  /** Failed client authentications per address (RATE_LIMIT_CLIENT_AUTH_FAILURES). */
  failures: Limit;
  /** Requests per authenticated client, unless the client has a quota of its own (RATE_LIMIT_PER_CLIENT). */
  perClient: Limit;
  onReject: (rule: string) => void;
}

/** The endpoints where a client authenticates (RFC 6749 §2.3, RFC 7662, RFC 7009, RFC 9126). */
const clientAuthPaths = new Set<string>([paths.token, paths.introspection, paths.revocation, paths.pushed_authorization_request]);
const errorEvents = ['grant.error', 'introspection.error', 'revocation.error', 'pushed_authorization_request.error'] as const;

/** What one request at those endpoints turned out to be, as the provider's events tell it. */
interface Outcome {
  client?: { clientId: string; clientAuthMethod?: string };
  failed?: boolean;
  refused?: boolean;
}
const outcome = Symbol('clientAuthOutcome');
const outcomeOf = (ctx: { state: Record<symbol, Outcome | undefined> }) => ctx.state[outcome];

/**
 * Client authentication's two budgets:
 * - failures per address: each 401 `invalid_client` spends one; once they are spent, every
 *   client-authenticated request from that address is answered 429 before anything is read;
 * - requests per client: spent after a request whose client authenticated with a credential,
 *   under the authenticated client id. Only authenticated requests spend it, so a request that
 *   names a client can be refused on it before authentication: a stranger presenting a victim's
 *   (public) client_id spends the stranger's address budget, never the victim's.
 * A public client (`none`) proves nothing, so it has no budget of its own: the per-address
 * ceiling is what limits it.
 */
export function createClientAuthLimits({ buckets, failures, perClient, onReject }: ClientAuthLimitsDeps) {
  // The record each registered client was last read as: the check at assignment cannot wait for
  // a lookup, and the provider made one (observeClients) a moment before, to find the client.
  const records = new Map<string, ClientRecord>();
  const quotas = new WeakMap<ClientRecord, Limit>();
  const quotaOf = (clientId: string): Limit => {
    const record = records.get(clientId);
    if (!record || (!record.rateLimit.rate && !record.rateLimit.burst)) return perClient;
    let quota = quotas.get(record);
    if (!quota) quotas.set(record, (quota = { rate: record.rateLimit.rate ?? perClient.rate, burst: record.rateLimit.burst ?? perClient.burst }));
    return quota;
  };

  function refuseBeforeAuthentication(ctx: Context, client: { clientId: string; clientAuthMethod?: string }) {
    const seen = outcomeOf(ctx);
    if (!seen) return;
    seen.client = { clientId: client.clientId, clientAuthMethod: client.clientAuthMethod };
    if (client.clientAuthMethod === 'none') return;
    const decision = buckets.check('client', client.clientId, quotaOf(client.clientId));
    if (decision.allowed) return;
    seen.refused = true;
    onReject('client');
    ctx.set('Retry-After', String(decision.retryAfterSeconds));
    const error = new errors.OIDCProviderError(429, 'rate_limited');
    error.error_description = rateLimitedBody(decision.retryAfterSeconds).error_description;
    throw error;
  }

  function noteFailedAuthentication(ctx: Context, error: { statusCode?: number; error?: string }) {
    const seen = outcomeOf(ctx);
    if (seen && error.statusCode === 401 && error.error === 'invalid_client') seen.failed = true;
  }

  async function limitClientAuthentication(ctx: Context, next: Next) {
    if (ctx.method !== 'POST' || !clientAuthPaths.has(ctx.path)) return next();
    const address = addressKey(ctx.state.clientIp);
    const budget = buckets.check('client_auth_failures', address, failures);
    if (!budget.allowed) {
      onReject('client_auth_failures');
      ctx.status = 429;
      ctx.set('Retry-After', String(budget.retryAfterSeconds));
      ctx.set('Cache-Control', 'no-store');
      ctx.body = rateLimitedBody(budget.retryAfterSeconds);
      return;
    }
    const seen: Outcome = {};
    (ctx.state as Record<symbol, Outcome>)[outcome] = seen;
    await next();
    if (seen.failed) return buckets.spend('client_auth_failures', address, failures);
    const { client } = seen;
    if (!client || client.clientAuthMethod === 'none' || seen.refused || presentsAttestation(ctx)) return;
    buckets.spend('client', client.clientId, quotaOf(client.clientId));
  }

  return {
    /** The provider's client lookup, noting each client's quota as it is read. */
    observeClients(lookup: ClientLookup): ClientLookup {
      return {
        async find(clientId) {
          const record = await lookup.find(clientId);
          if (record) records.set(record.clientId, record);
          return record;
        },
      };
    },
    /** Listens to a provider built with observeClients; returns the step to `provider.use`. */
    protect(provider: Provider) {
      onClientAssigned(provider, refuseBeforeAuthentication);
      // The typings list only some of the provider's events.
      const on = provider.on.bind(provider) as unknown as (event: string, listener: typeof noteFailedAuthentication) => void;
      for (const event of errorEvents) on(event, noteFailedAuthentication);
      return limitClientAuthentication;
    },
  };
}
