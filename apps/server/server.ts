import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { systemClock, type Clock } from '../core/clock.ts';
import type { Config, Secrets } from '../core/config/config.ts';
import type { Database } from '../core/db/database.ts';
import type { Logger } from '../core/logger.ts';
import { createAuditLog } from '../core/audit/audit-log.ts';
import { databasePool } from '../core/db/database.ts';
import { requestScope } from '../core/request-context.ts';
import { accessTokenRetention, createServices } from '../core/services.ts';
import { createRevocationList } from '../core/tokens/revocations.ts';
import { createTokenVerifier, type PublishedKeys } from '../core/tokens/token-verifier.ts';
import { createStructuredTokens } from './provider/structured-tokens.ts';
import { createPdpEndpoints, EVALUATE_SCOPE, pdpApiIdentifier } from './authz/pdp-endpoints.ts';
import { findStoredAccessToken } from './provider/stored-tokens.ts';
import { recordProviderEvents } from './provider/events.ts';
import { countAuditEvents, createMetrics, startMetricsServer } from './ops/metrics.ts';
import { createRateLimits } from './http/rate-limit/rate-limits.ts';
import { createRateLimitQueries } from '../core/rate-limits/queries.ts';
import { createApp } from './http/app.ts';
import { rawAnswer } from './http/errors.ts';
import { AppError } from '../core/errors.ts';
import { dispatch } from './http/dispatch.ts';
import { edgeMiddleware } from './http/edge.ts';
import { createClientLookup } from './provider/client-adapter.ts';
import { answerUnauthorizedClientPerRfc6749, retryAfterOutage } from './provider/error-answers.ts';
import { createMetadataCache, type MetadataCache } from './provider/metadata-cache.ts';
import { createMetadataEdge } from './provider/metadata-edge.ts';
import { sweepExpired } from './provider/payload-adapter.ts';
import type Provider from 'oidc-provider';
import type { KeySet } from '../core/keys/key-service.ts';
import { createProvider } from './provider/provider.ts';
import { createProviderHost } from './provider/host.ts';
import { createCsrf } from './interactions/csrf.ts';
import { createInteractionRouter } from './interactions/router.ts';
import { createProviderPages } from './provider/pages.ts';
import { refuseControlCharacters } from './provider/parameters.ts';
import { allowProviderFormTargets, providerPageHeaders } from './http/page-security.ts';
import { createStaticRouter, createViews } from './views.ts';
import { createResourceLookup } from './provider/resource-servers.ts';
import { createEdge } from './gateway/edge.ts';

export interface ServerDeps {
  config: Config;
  secrets: Secrets;
  db: Database;
  log: Logger;
  /** What every TTL, window and expiry Gatehouse decides itself reads the time from (tests move it). */
  clock?: Clock;
}

export interface RunningServer {
  url: string;
  server: Server;
  /** Stops accepting, lets in-flight requests finish (up to SHUTDOWN_TIMEOUT), stops timers. */
  close(): Promise<void>;
}

/**
 * Requests Node's parser refuses (headers over 16 KiB, malformed request lines) get an RFC 6749
 * style JSON error (http/errors.ts) instead of Node's bare status line.
 */
function answerMalformedRequest(error: NodeJS.ErrnoException, socket: Duplex) {
  if (!socket.writable || (error as { code?: string }).code === 'ECONNRESET') return socket.destroy();
  socket.end(
    rawAnswer(
      error.code === 'HPE_HEADER_OVERFLOW'
        ? new AppError('invalid_request', 'request headers too large', { status: 431 })
        : new AppError('invalid_request', 'malformed HTTP request', { status: 400 }),
    ),
  );
}

/** Wires the services and starts listening. The caller owns the database and closes it after. */
export async function startServer({ config, secrets, db, log, clock = systemClock }: ServerDeps): Promise<RunningServer> {
  const metrics = createMetrics({ pool: databasePool(db) });
  const audit = createAuditLog(db, {
    context: () => requestScope.getStore(),
    onEvent: countAuditEvents(metrics),
    onError: (err) => log.error({ err }, 'audit write failed'),
    now: clock,
  });
  const { users, clients, keys, apis, revocationQueries, authz } = createServices({ config, secrets, db, audit, clock });
  const clientLookup = createClientLookup(clients, config.clientCacheTtl, clock);
  const resources = createResourceLookup(apis, config.clientCacheTtl, clock);

  const views = createViews();
  const pages = createProviderPages(views);
  const csrf = createCsrf(secrets.cookieKeys[0]);

  const revocations = createRevocationList({
    queries: revocationQueries,
    refreshSeconds: config.revocationRefreshInterval,
    retainSeconds: () => accessTokenRetention(config),
    onError: (err) => log.warn({ err }, 'revocation list refresh failed'),
    now: clock,
  });
  await revocations.refresh();
  let publishedKeys: PublishedKeys = { version: '', keys: [] };
  const verifier = createTokenVerifier({
    issuer: config.issuer,
    publishedKeys: () => publishedKeys,
    revocations,
    findOpaque: (value) => findStoredAccessToken(host.provider, value),
    now: clock,
  });
  const structured = createStructuredTokens({ verifier, revocations });

  const created = await keys.ensureKeys();
  if (created.length) log.info({ kids: created }, 'created signing keys');

  let lastLimiterWarning = 0;
  const rateLimits = config.rateLimit.enabled
    ? createRateLimits({
        db,
        config: config.rateLimit,
        views,
        onReject: metrics.rateLimited,
        clock,
        // A database outage would otherwise log at every sync interval.
        onError: (err) =>
          Date.now() - lastLimiterWarning > 10_000 &&
          (lastLimiterWarning = Date.now()) &&
          log.warn({ err }, 'rate limits not shared (database unreachable); limiting on this instance alone'),
      })
    : undefined;
  // The client lookup the provider finds clients with: the per-client budget reads each client's quota from it.
  const providerClientLookup = rateLimits?.clientAuthentication.observeClients(clientLookup) ?? clientLookup;
  const rateLimitQueries = createRateLimitQueries(db);
  const edgeDeps = { log, trustedProxies: config.trustedProxies, https: config.issuer.startsWith('https:'), metrics, rateLimit: rateLimits?.edge };
  const edge = edgeMiddleware(edgeDeps);
  const providerEdgeDeps = { ...edgeDeps, pageHeaders: providerPageHeaders };
  const providerEdge = edgeMiddleware(providerEdgeDeps);

  const metadataOf = new WeakMap<Provider, MetadataCache>();
  let gatewayKeys: KeySet['signing'] = [];
  const host = await createProviderHost({
    keys,
    refreshIntervalSeconds: config.keys.refreshInterval,
    onError: (err) => log.warn({ err }, 'key refresh failed'),
    clock,
    build(keySet) {
      publishedKeys = { version: keySet.version, keys: keySet.published };
      gatewayKeys = keySet.signing;
      const provider = createProvider({
        config,
        db,
        keySet,
        cookieKeys: secrets.cookieKeys,
        clients,
        clientLookup: providerClientLookup,
        users,
        resources,
        verifier,
        revocations,
        structured,
        subjects: authz.subjects,
        pages,
        clock,
      });
      for (const step of providerEdge) provider.use(step);
      if (rateLimits) provider.use(rateLimits.clientAuthentication.protect(provider));
      provider.use(refuseControlCharacters(pages.renderError));
      provider.use(structured.substituteJwt);
      provider.use(allowProviderFormTargets);
      provider.use(retryAfterOutage(log));
      answerUnauthorizedClientPerRfc6749(provider, views);
      const metadata = createMetadataCache(config.keys.jwksMaxAge);
      metadataOf.set(provider, metadata);
      provider.use(metadata.middleware);
      provider.on('server_error', (_ctx, err) => log.error({ err }, 'provider error'));
      provider.on('backchannel.error', (_ctx, err, client) =>
        log.warn({ err, client_id: client.clientId, uri: client.backchannelLogoutUri }, 'back-channel logout failed'),
      );
      recordProviderEvents(provider, { audit, metrics });
      return provider;
    },
  });

  await apis.ensure({ identifier: pdpApiIdentifier(config.issuer), name: 'Gatehouse policy decision point', scopes: [EVALUATE_SCOPE] });
  const decisionPoint = await authz.startDecisionPoint({
    onDecision: metrics.decision,
    onError: (err) => log.warn({ err }, 'policy refresh or engine failed'),
  });
  const pdp = createPdpEndpoints({
    ...edgeDeps,
    issuer: config.issuer,
    verifier,
    decisions: decisionPoint,
    failures: rateLimits?.bearerFailures,
    audit,
    auditDenials: config.authz.auditDenials,
  });
  const interactions = createInteractionRouter({ host, views, csrf, users, loginFailures: rateLimits?.loginFailures });
  // Edge authorization for API gateways (gateway/edge.ts).
  // --decide routes ask the same policy decision point as the AuthZEN endpoints.
  const gateway = await createEdge({
    config,
    secrets,
    db,
    log,
    metrics,
    verifier,
    revocations,
    provider: () => host.provider,
    signingKeys: () => gatewayKeys,
    views,
    directory: authz.subjects,
    decide: (request) => decisionPoint.evaluate(request),
    clock,
  });
  const metricsServer = config.metricsPort === undefined ? undefined : await startMetricsServer(metrics, config.host, config.metricsPort);
  const app = createApp({
    issuer: config.issuer,
    db,
    log,
    views,
    edge,
    trustedProxies: config.trustedProxies,
    metrics,
    publicMetrics: config.publicMetrics,
    routers: [createStaticRouter(), interactions, pdp.router, gateway.router],
  });
  // The provider's edge steps, for discovery and JWKS answered from memory.
  const metadataEdge = createMetadataEdge({ ...providerEdgeDeps, cache: () => metadataOf.get(host.provider), rateLimits });
  const server = createServer(pdp.listener(gateway.listener(dispatch(host, app, metadataEdge))));
  server.on('clientError', answerMalformedRequest);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });

  const sweeper = setInterval(() => {
    Promise.all([sweepExpired(db), keys.sweep(), audit.sweep(config.auditRetentionDays), revocationQueries.sweep(), rateLimitQueries.sweep(clock())])
      .then(
        ([artifacts, retiredKeys, auditEvents, revocations, rateLimitBuckets]) =>
          (artifacts || retiredKeys || auditEvents || revocations || rateLimitBuckets) &&
          log.debug({ artifacts, retiredKeys, auditEvents, revocations, rateLimitBuckets }, 'swept expired rows'),
      )
      .catch((err) => log.warn({ err }, 'sweep failed'));
  }, config.sweepInterval * 1000).unref();

  const { port } = server.address() as AddressInfo;
  gateway.listening(config.host, port);
  return {
    url: `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`,
    server,
    async close() {
      clearInterval(sweeper);
      host.stop();
      revocations.stop();
      gateway.stop();
      await rateLimits?.close();
      metricsServer?.close();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), config.shutdownTimeout * 1000).unref();
        server.close(() => {
          clearTimeout(force);
          // After the last request: decisions in flight still need the policy engine's thread.
          decisionPoint.stop();
          void audit.flush().then(() => resolve());
        });
        server.closeIdleConnections();
      });
    },
  };
}
