import { resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import { argon2Floor, envSchema, type Env } from './env-schema.ts';

const checkedEnvSchema = envSchema.superRefine((e, ctx) => {
  if (e.RATE_LIMIT_LOGIN_FAILURES_BURST < e.LOCKOUT_THRESHOLD) {
    ctx.addIssue({
      code: 'custom',
      path: ['RATE_LIMIT_LOGIN_FAILURES_BURST'],
      message: `expected at least LOCKOUT_THRESHOLD (${e.LOCKOUT_THRESHOLD}): a guesser on one account must meet the account's lockout before the address's budget`,
    });
  }
  if (e.ARGON2_MEMORY_KIB * e.ARGON2_TIME_COST < argon2Floor) {
    ctx.addIssue({
      code: 'custom',
      path: ['ARGON2_TIME_COST'],
      message: `expected ARGON2_MEMORY_KIB × ARGON2_TIME_COST of at least ${argon2Floor} (OWASP: 7168 × 5, 9216 × 4, 12288 × 3, 19456 × 2, 47104 × 1)`,
    });
  }
});

/** Variables an earlier version read, and what took their place: set, they would silently do nothing. */
const replacedVariables: Record<string, string> = {
  RATE_LIMIT_WINDOW: 'every limit is now a rate and a burst (RATE_LIMIT_PER_ADDRESS=50/s, RATE_LIMIT_PER_ADDRESS_BURST=1000, ...)',
  RATE_LIMIT_PER_IP: 'RATE_LIMIT_PER_ADDRESS and RATE_LIMIT_PER_ADDRESS_BURST',
  RATE_LIMIT_LOGIN_PER_IP: 'RATE_LIMIT_LOGIN_FAILURES and RATE_LIMIT_LOGIN_FAILURES_BURST (failed passwords only)',
};

/** Who may read /metrics on the public port: anyone, a bearer of this token, or nobody. */
function publicMetrics(e: Env): { token: string } | 'open' | 'off' {
  if (e.METRICS_PORT !== undefined) return 'off';
  if (e.METRICS_TOKEN) return { token: e.METRICS_TOKEN };
  return e.NODE_ENV === 'production' ? 'off' : 'open';
}

/** The configuration the apps read, in their words; its type is `Config`. */
export function toConfig(e: Env) {
  return {
    env: e.NODE_ENV,
    production: e.NODE_ENV === 'production',
    port: e.PORT,
    host: e.HOST,
    issuer: (e.ISSUER ?? `http://localhost:${e.PORT}`).replace(/\/$/, ''),
    databaseUrl: e.DATABASE_URL,
    // Relative to the checkout, not the working directory: the CLI run from anywhere must find
    // the same embedded database and development secrets as the server.
    dataDir: resolve(import.meta.dirname, '../../..', e.DATA_DIR),
    embeddedPgPort: e.EMBEDDED_PG_PORT,
    dbPoolMax: e.DB_POOL_MAX,
    secrets: { keyEncryptionKey: e.KEY_ENCRYPTION_KEY, cookieKeys: e.COOKIE_KEYS, clientSecretPepper: e.CLIENT_SECRET_PEPPER },
    argon2: { memoryCost: e.ARGON2_MEMORY_KIB, timeCost: e.ARGON2_TIME_COST, parallelism: e.ARGON2_PARALLELISM },
    ttl: { accessToken: e.ACCESS_TOKEN_TTL, idToken: e.ID_TOKEN_TTL, refreshToken: e.REFRESH_TOKEN_TTL, session: e.SESSION_TTL },
    keys: { jwksMaxAge: e.JWKS_MAX_AGE, refreshInterval: e.KEY_REFRESH_INTERVAL },
    sweepInterval: e.SWEEP_INTERVAL,
    clientCacheTtl: e.CLIENT_CACHE_TTL,
    revocationRefreshInterval: e.REVOCATION_REFRESH_INTERVAL,
    authz: { cacheTtl: e.AUTHZ_CACHE_TTL, policyRefreshInterval: e.POLICY_REFRESH_INTERVAL, auditDenials: e.AUTHZ_AUDIT_DENIALS },
    accessTokenSigningAlg: e.ACCESS_TOKEN_SIGNING_ALG,
    devInteractions: e.DEV_INTERACTIONS,
    trustedProxies: e.TRUSTED_PROXIES,
    rateLimit: {
      enabled: e.RATE_LIMIT_ENABLED,
      perAddress: { rate: e.RATE_LIMIT_PER_ADDRESS, burst: e.RATE_LIMIT_PER_ADDRESS_BURST },
      readyz: { rate: e.RATE_LIMIT_READYZ, burst: e.RATE_LIMIT_READYZ_BURST },
      clientAuthFailures: { rate: e.RATE_LIMIT_CLIENT_AUTH_FAILURES, burst: e.RATE_LIMIT_CLIENT_AUTH_FAILURES_BURST },
      perClient: { rate: e.RATE_LIMIT_PER_CLIENT, burst: e.RATE_LIMIT_PER_CLIENT_BURST },
      loginFailures: { rate: e.RATE_LIMIT_LOGIN_FAILURES, burst: e.RATE_LIMIT_LOGIN_FAILURES_BURST },
      syncMs: e.RATE_LIMIT_SYNC_MS,
    },
    lockout: {
      threshold: e.LOCKOUT_THRESHOLD,
      waitSeconds: e.LOCKOUT_WAIT,
      waitIncrementSeconds: e.LOCKOUT_WAIT_INCREMENT,
      maxWaitSeconds: e.LOCKOUT_MAX_WAIT,
      resetAfterSeconds: e.LOCKOUT_RESET_AFTER,
    },
    auditRetentionDays: e.AUDIT_RETENTION_DAYS,
    metricsPort: e.METRICS_PORT,
    publicMetrics: publicMetrics(e),
    shutdownTimeout: e.SHUTDOWN_TIMEOUT,
    workers: e.WEB_CONCURRENCY,
    /** Edge authorization for API gateways (apps/server/gateway). */
    edge: {
      callers: e.EDGE_CALLERS,
      cookieDomain: e.EDGE_COOKIE_DOMAIN,
      routeRefreshInterval: e.EDGE_ROUTE_REFRESH_INTERVAL,
      sessionCheckInterval: e.EDGE_SESSION_CHECK_INTERVAL,
    },
    logLevel: e.LOG_LEVEL,
  };
}

export type Config = ReturnType<typeof toConfig>;

/** The parts of the configuration that are secrets, with every one of them present. */
export type Secrets = { [K in keyof Config['secrets']]-?: NonNullable<Config['secrets'][K]> };

/** Parses the environment once. Throws a ConfigError naming the first bad variable. */
export function loadConfig(source: Record<string, string | undefined>): Config {
  for (const [name, replacement] of Object.entries(replacedVariables)) {
    if (source[name] !== undefined && source[name] !== '') throw new ConfigError(name, `is no longer read; replaced by ${replacement}`);
  }
  const parsed = checkedEnvSchema.safeParse(source);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(String(issue.path[0]), issue.message);
  }
  const config = toConfig(parsed.data);
  if (config.edge.cookieDomain) {
    const host = new URL(config.issuer).hostname;
    // The callback at ISSUER sets the cookie: a browser takes it only for a domain the host is in.
    if (host !== config.edge.cookieDomain && !host.endsWith(`.${config.edge.cookieDomain}`)) {
      throw new ConfigError('EDGE_COOKIE_DOMAIN', `must be ISSUER's host (${host}) or a domain it is in`);
    }
  }
  if (config.production) refuseInsecureProductionSettings(config);
  return config;
}

const isLoopback = (hostname: string) => hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);

function refuseInsecureProductionSettings(config: Config): void {
  const { protocol, hostname } = new URL(config.issuer);
  if (protocol !== 'https:' && !isLoopback(hostname)) {
    throw new ConfigError('ISSUER', 'must be https in production (http is only allowed on loopback)');
  }
  if (!config.secrets.keyEncryptionKey) throw new ConfigError('KEY_ENCRYPTION_KEY', 'is required in production');
  if (!config.secrets.cookieKeys) throw new ConfigError('COOKIE_KEYS', 'is required in production');
  if (!config.secrets.clientSecretPepper) throw new ConfigError('CLIENT_SECRET_PEPPER', 'is required in production');
  if (config.devInteractions) throw new ConfigError('DEV_INTERACTIONS', 'must be false in production');
}
