import type { JWK } from 'jose';
import type Provider from 'oidc-provider';
import type { Clock } from '../../core/clock.ts';
import type { Config, Secrets } from '../../core/config/config.ts';
import type { Database } from '../../core/db/database.ts';
import { EDGE_CLIENT_ID, ensureEdgeClient } from '../../core/gateway/edge-client.ts';
import { createLiveRoutes } from '../../core/gateway/live-routes.ts';
import { createRouteQueries } from '../../core/gateway/route-queries.ts';
import type { Logger } from '../../core/logger.ts';
import type { RevocationList } from '../../core/tokens/revocations.ts';
import type { TokenVerifier } from '../../core/tokens/token-verifier.ts';
import type { Metrics } from '../ops/metrics.ts';
import { paths } from '../paths.ts';
import type { Views } from '../views.ts';
import { createDecisionEngine, type DecisionEngineDeps } from './decision-engine.ts';
import { createProofChecker } from './dpop-proof.ts';
import { createEdgeEndpoints } from './edge-endpoints.ts';
import { createEdgeLoginRouter } from './edge-login.ts';
import { createEdgeSessions } from './edge-session.ts';
import { createIdentityTokens } from './identity-token.ts';

export interface EdgeOptions {
  config: Config;
  secrets: Secrets;
  db: Database;
  log: Logger;
  metrics?: Metrics;
  /** The one access-token verifier (core/tokens). */
  verifier: Pick<TokenVerifier, 'verify'>;
  revocations: Pick<RevocationList, 'isRevoked'>;
  /** The provider serving now: the edge reads Gatehouse sessions and the tokens of its own sign-ins through its models. */
  provider: () => Provider;
  /** The provider's private signing keys, each algorithm's current key first (keySet.signing). */
  signingKeys: () => JWK[];
  views: Pick<Views, 'render'>;
  /** The directory and the policy decision point (apps/core/authz), when wired. */
  directory?: DecisionEngineDeps['directory'];
  decide?: DecisionEngineDeps['decide'];
  /** What sign-in states, edge sessions, identity tokens and DPoP proofs are timed by. */
  clock?: Clock;
}

/**
 * Edge authorization for API gateways, wired: the live route table, the decision engine behind
 * the three adapters (answered before Koa), and the browser sign-in router (on Koa's path, with
 * every other page). The edge's client is registered here, at start, so it follows ISSUER.
 */
export async function createEdge({
  config,
  secrets,
  db,
  log,
  metrics,
  verifier,
  revocations,
  provider,
  signingKeys,
  views,
  directory,
  decide,
  clock,
}: EdgeOptions) {
  const registered = await ensureEdgeClient(db, `${config.issuer}${paths.edgeCallback}`);
  if (registered !== 'unchanged') log.info({ client_id: EDGE_CLIENT_ID }, `edge sign-in client ${registered}`);
  const live = await createLiveRoutes({
    queries: createRouteQueries(db),
    refreshSeconds: config.edge.routeRefreshInterval,
    onError: (err) => log.warn({ err }, 'edge route refresh failed; deciding with the routes read before'),
    onLoad: ({ routes, skipped }) =>
      skipped
        ? log.warn({ routes, skipped }, 'edge routes loaded; some stored routes cannot be read and are left out')
        : log.debug({ routes }, 'edge routes loaded'),
  });
  const routes = () => live.table;
  const sessions = createEdgeSessions({
    cookieKeys: secrets.cookieKeys,
    checkSeconds: config.edge.sessionCheckInterval,
    now: clock,
    isRevoked: ({ sub, iat }) => revocations.isRevoked({ sub, iat }),
    async probe(sid) {
      const session = await provider().Session.findByUid(sid);
      return session && { accountId: session.accountId, grantId: session.grantIdFor(EDGE_CLIENT_ID) };
    },
  });
  const alg = config.accessTokenSigningAlg;
  const identities = createIdentityTokens({
    issuer: config.issuer,
    now: clock,
    // The identity is signed like access tokens: the upstream that verifies those verifies this.
    signingKey() {
      const jwk = signingKeys().find((key) => key.alg === alg);
      return jwk?.kid ? { jwk, kid: jwk.kid, alg } : undefined;
    },
  });
  const engine = createDecisionEngine({
    routes,
    verifier,
    proofs: createProofChecker({ now: clock }),
    identities,
    sessions,
    edgeClientId: EDGE_CLIENT_ID,
    directory,
    decide,
  });
  const signInUrl = (returnTo: string) => `${config.issuer}${paths.edgeSignIn}?${new URLSearchParams({ rd: returnTo })}`;
  const endpoints = createEdgeEndpoints({ engine, callers: config.edge.callers, signInUrl, log, https: config.issuer.startsWith('https:'), metrics });

  let tokenEndpoint: string | undefined;
  const router = createEdgeLoginRouter({
    issuer: config.issuer,
    clientId: EDGE_CLIENT_ID,
    routes,
    sessions,
    cookieKeys: secrets.cookieKeys,
    cookieDomain: config.edge.cookieDomain,
    sessionTtl: config.ttl.session,
    tokenEndpoint: () => tokenEndpoint ?? `${config.issuer}${paths.token}`,
    async bindingOf(accessToken) {
      const token = await provider().AccessToken.find(accessToken);
      return token && { accountId: token.accountId, sessionUid: token.sessionUid, grantId: token.grantId };
    },
    views,
    log,
    now: clock,
  });

  return {
    engine,
    routes,
    refreshRoutes: () => live.refresh(),
    router,
    /** Wraps the server's request listener: the decision endpoints first. */
    listener: endpoints,
    /**
     * The port this instance listens on is known: sign-ins redeem their codes there, directly,
     * whatever address ISSUER resolves to from inside (the provider builds its URLs from ISSUER,
     * never from Host, so the address called changes nothing it checks).
     */
    listening(host: string, port: number) {
      const local = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
      tokenEndpoint = `http://${local}:${port}${paths.token}`;
    },
    stop: () => live.stop(),
  };
}

export type Edge = Awaited<ReturnType<typeof createEdge>>;
