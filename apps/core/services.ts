import { createApiQueries } from './apis/api-queries.ts';
import { createApiService } from './apis/api-service.ts';
import { createAuditLog, type AuditLog } from './audit/audit-log.ts';
import { systemClock, type Clock } from './clock.ts';
import { createClientQueries } from './clients/client-queries.ts';
import { createSecretHasher } from './clients/client-secrets.ts';
import { createClientService } from './clients/client-service.ts';
import type { Config, Secrets } from './config/config.ts';
import type { Database } from './db/database.ts';
import { createKeyEncryption } from './keys/key-encryption.ts';
import { createKeyQueries } from './keys/key-queries.ts';
import { createKeyService } from './keys/key-service.ts';
import { createSessionQueries } from './sessions/session-queries.ts';
import { createLockout } from './users/lockout.ts';
import { createPasswordHasher } from './users/passwords.ts';
import { createUserQueries } from './users/user-queries.ts';
import { createUserService } from './users/user-service.ts';
import { createRevocationQueries } from './tokens/revocation-queries.ts';
import { createRouteService } from './gateway/routes.ts';
import { createAuthz } from './authz/authz.ts';

/** A new key signs only after every cache of the old JWKS has expired and every instance has re-read the keys. */
export const keyActivationDelay = (config: Config) => config.keys.jwksMaxAge + 2 * config.keys.refreshInterval + 30;

/** The longest an access token can live (an API's ttl is at most a day): how long a grant or subject revocation is kept. */
export const accessTokenRetention = (config: Config) => Math.max(config.ttl.accessToken, 86_400);

/**
 * The services the server and the CLI share, wired from the configuration. `audit` records
 * what they change; without one, events are recorded as done by `actor` (the CLI passes 'cli').
 * `clock` is what their lockouts, secret and key lifetimes and caches read the time from.
 */
export function createServices({
  config,
  secrets,
  db,
  audit,
  actor,
  clock = systemClock,
}: {
  config: Config;
  secrets: Secrets;
  db: Database;
  audit?: AuditLog;
  actor?: string;
  clock?: Clock;
}) {
  const passwords = createPasswordHasher(config.argon2);
  audit ??= createAuditLog(db, { actor, batchMs: 0, now: clock });
  const revocationQueries = createRevocationQueries(db);
  const userQueries = createUserQueries(db);
  const clientQueries = createClientQueries(db);
  const apiQueries = createApiQueries(db);
  const apisOn = (audited?: AuditLog) => createApiService({ queries: apiQueries, clients: clientQueries, audit: audited });
  return {
    passwords,
    audit,
    revocationQueries,
    users: createUserService({
      queries: userQueries,
      sessions: createSessionQueries(db),
      passwords,
      audit,
      lockout: createLockout({ queries: userQueries, policy: config.lockout, now: clock }),
      // Stored tokens go with the account; its JWTs are refused through the revocation list.
      revokeSubject: (id) => revocationQueries.insert([{ kind: 'subject', value: id, ttlSeconds: accessTokenRetention(config) }]),
    }),
    apis: apisOn(audit),
    routes: createRouteService({ db, apis: apisOn(), audit }),
    clients: createClientService({
      queries: clientQueries,
      secrets: createSecretHasher(secrets.clientSecretPepper),
      audit,
      requireHttpsRedirects: config.production,
      now: clock,
    }),
    keys: createKeyService({
      queries: createKeyQueries(db),
      encryption: createKeyEncryption(secrets.keyEncryptionKey),
      activationDelaySeconds: keyActivationDelay(config),
      // JWT access tokens for an API live as long as that API says, which may exceed the default.
      retainSeconds: async () => Math.max(config.ttl.accessToken, config.ttl.idToken, await apiQueries.longestTtl()),
      audit,
      now: clock,
    }),
    authz: createAuthz({
      db,
      apis: apisOn(),
      audit,
      actor,
      subjectCacheSeconds: config.authz.cacheTtl,
      policyRefreshSeconds: config.authz.policyRefreshInterval,
      now: clock,
    }),
  };
}

export type Services = ReturnType<typeof createServices>;
