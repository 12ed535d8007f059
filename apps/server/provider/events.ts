import Provider from 'oidc-provider';
import type { AuditLog } from '../../core/audit/audit-log.ts';
import { requestScope } from '../../core/request-context.ts';
import type { Metrics } from '../ops/metrics.ts';
import { scopeOf } from '../http/request-log.ts';
import { paths } from '../paths.ts';
import { onClientAssigned, watchRedemptions, type RedeemedKind } from './internals.ts';
import { RedeemedTwice } from './payload-adapter.ts';

const tokenKinds = ['access_token', 'client_credentials', 'refresh_token', 'authorization_code'] as const;
const revocableKinds = ['access_token', 'client_credentials', 'refresh_token'] as const;

/** The parts of an oidc-provider token model we record: never its value (`jti` is the value of an opaque token). */
interface TokenModel {
  clientId?: string;
  accountId?: string;
  grantId?: string;
  scope?: string;
  resource?: string;
}

interface ProviderContext {
  req: import('node:http').IncomingMessage;
  oidc?: { params?: { grant_type?: unknown }; client?: { clientId: string } };
}

const grantTypeNow = (kind: string) => {
  const ctx = Provider.ctx as ProviderContext | undefined;
  const grantType = ctx?.oidc?.params?.grant_type;
  if (typeof grantType === 'string') return grantType;
  return kind === 'authorization_code' ? 'authorization_code' : 'none';
};

/**
 * Turns oidc-provider's events into audit events and metrics: tokens issued (by kind, grant
 * type, client) and revoked, consent granted and revoked, refresh-token and code reuse. Every
 * record is queued (audit.ts batches the writes), so the token endpoint never waits on it.
 */
export function recordProviderEvents(provider: Provider, { audit, metrics }: { audit: AuditLog; metrics?: Metrics }) {
  // Event names are built from model kinds, which the typings do not enumerate.
  const on = provider.on.bind(provider) as unknown as (event: string, listener: (...args: never[]) => void) => void;
  // The client the request names, for the request log line (oidc-provider emits this on each
  // request's context, never on the provider: provider/internals.ts).
  onClientAssigned(provider, (ctx, client) => {
    const scope = scopeOf(ctx.req);
    if (scope) scope.clientId = client.clientId;
  });

  for (const kind of tokenKinds) {
    const issued = (token: TokenModel) => {
      const grantType = grantTypeNow(kind);
      metrics?.tokenIssued(kind, grantType, token.clientId ?? 'unknown');
      void audit.record({
        type: 'token.issued',
        actor: token.accountId ? `user:${token.accountId}` : `client:${token.clientId}`,
        userId: token.accountId,
        clientId: token.clientId,
        details: { kind, grantType, scope: token.scope, grantId: token.grantId },
      });
    };
    // Opaque tokens are `saved` (stored), JWT access tokens only `issued`.
    on(`${kind}.saved`, issued);
    on(`${kind}.issued`, issued);
  }

  for (const kind of revocableKinds) {
    on(`${kind}.destroyed`, (token: TokenModel) => {
      void audit.record({
        type: 'token.revoked',
        userId: token.accountId,
        clientId: token.clientId,
        actor: token.clientId && `client:${token.clientId}`,
        details: { kind, grantId: token.grantId },
      });
    });
  }

  on('grant.saved', (grant: TokenModel) => {
    // A grant saved while serving an interaction is a consent given on our consent page.
    if (!requestScope.getStore()?.path?.startsWith(paths.interactionUrl(''))) return;
    void audit.record({
      type: 'consent.granted',
      actor: `user:${grant.accountId}`,
      userId: grant.accountId,
      clientId: grant.clientId,
      details: { scope: grant.scope, grantId: grant.grantId },
    });
  });

  on('grant.revoked', (ctx: ProviderContext, grantId: string) => {
    void audit.record({ type: 'consent.revoked', clientId: ctx.oidc?.client?.clientId, details: { grantId } });
  });

  // A replay is told from state (provider/internals.ts) or from the adapter's own refusal of a
  // redemption that raced the first one, never from oidc-provider's wording.
  const redeemedAgain = watchRedemptions(provider);
  provider.on('grant.error', (ctx, error) => {
    const kind = error instanceof RedeemedTwice ? replayedModels[error.model] : redeemedAgain(ctx, error);
    if (!kind) return;
    const clientId = ctx.oidc?.client?.clientId;
    void audit.record({ type: `${kind}.reuse_detected`, actor: clientId && `client:${clientId}`, clientId });
  });
}

const replayedModels: Record<string, RedeemedKind | undefined> = { AuthorizationCode: 'authorization_code', RefreshToken: 'refresh_token' };
