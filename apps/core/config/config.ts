import { resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { parseRate, rateSyntax, type Limit } from '../rate-limits/rate.ts';

const seconds = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const flagDefault = (fallback: boolean) =>
  z.enum(['true', 'false', '1', '0']).default(fallback ? 'true' : 'false').transform((v) => v === 'true' || v === '1');
const flag = flagDefault(false);
const count = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const rate = (fallback: string) =>
  z.string().default(fallback).transform((text, ctx) => {
    const parsed = parseRate(text);
    if (!parsed) ctx.addIssue({ code: 'custom', message: `expected ${rateSyntax}` });
    return parsed ?? { count: 1, per: 's' as const };
  });
const burst = (fallback: number) => z.coerce.number().int().min(1).max(1_000_000).default(fallback);
const ipOrCidr = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:.]*)(\/\d{1,3})?$/;
const proxyList = z
  .string()
  .default('')
  .transform((v) => v.split(',').map((p) => p.trim()).filter(Boolean))
  .refine((list) => list.every((p) => ipOrCidr.test(p)), 'expected comma-separated IP addresses or CIDR ranges');
// EDGE_CALLERS: the same syntax, loopback unless told otherwise.
const edgeCallerList = z
  .string()
  .default('127.0.0.0/8,::1')
  .transform((v) => v.split(',').map((p) => p.trim()).filter(Boolean))
  .refine((list) => list.every((p) => ipOrCidr.test(p)), 'expected comma-separated IP addresses or CIDR ranges');
const cookieDomain = z
  .string()
  .trim()
  .toLowerCase()
  .transform((v) => v.replace(/^\./, ''))
  .pipe(z.string().regex(/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'expected a domain name of two labels or more, such as example.test'))
  .optional()
  .or(z.literal('').transform(() => undefined));
const isOrigin = (url: URL) => (url.pathname === '/' || url.pathname === '') && !url.search && !url.hash && !url.username && !url.password;
const optionalSecret = (min: number) =>
  z.string().min(min, `expected at least ${min} characters`).optional().or(z.literal('').transform(() => undefined));

/**
 * Every environment variable Gatehouse reads, with its default. `.env.example` documents the
 * same keys; a test keeps the two in step.
 */
const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  /** Every URL Gatehouse publishes or expects is built from this, whatever a request's Host says. */
  ISSUER: z
    .url({ protocol: /^https?$/, error: 'expected an absolute http(s) URL' })
    .refine((u) => !URL.canParse(u) || isOrigin(new URL(u)), 'expected an origin with no path, query, fragment or user (Gatehouse serves at the root)')
    .optional(),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/, error: 'expected a postgresql:// URL' }).optional(),
  DATA_DIR: z.string().min(1).default('.data'),
  EMBEDDED_PG_PORT: z.coerce.number().int().min(1).max(65535).default(54320),
  DB_POOL_MAX: z.coerce.number().int().min(1).max(500).default(10),
  KEY_ENCRYPTION_KEY: z.base64url().length(43, 'expected 32 bytes, base64url encoded (43 characters)').optional(),
  /** Comma-separated; the first signs cookies and roots the CSRF key, so each must be a strong secret. */
  COOKIE_KEYS: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v === '' ? undefined : v.split(',').map((k) => k.trim())))
    .refine((keys) => !keys || keys.every((k) => k.length >= 32), 'expected comma-separated keys of at least 32 characters each (an empty or short key would sign cookies)'),
  CLIENT_SECRET_PEPPER: optionalSecret(32),
  /**
   * argon2id cost. The default, 7 MiB × 5 passes, is one of OWASP's equivalent minimums and
   * Keycloak's default; any pair whose product reaches OWASP's floor is accepted (see argon2Floor).
   */
  ARGON2_MEMORY_KIB: z.coerce.number().int().min(7168, 'expected at least 7168 (OWASP minimum)').default(7168),
  ARGON2_TIME_COST: z.coerce.number().int().min(1).default(5),
  ARGON2_PARALLELISM: z.coerce.number().int().min(1).max(16).default(1),
  JWKS_MAX_AGE: seconds(300),
  KEY_REFRESH_INTERVAL: seconds(10),
  SWEEP_INTERVAL: seconds(60),
  ACCESS_TOKEN_TTL: seconds(3600),
  ID_TOKEN_TTL: seconds(3600),
  REFRESH_TOKEN_TTL: seconds(14 * 24 * 3600),
  SESSION_TTL: seconds(14 * 24 * 3600),
  CLIENT_CACHE_TTL: z.coerce.number().int().min(0).default(5),
  /** How often each instance reads the revoked tokens, grants and subjects of the others (seconds): the longest a revocation takes to bite everywhere. */
  REVOCATION_REFRESH_INTERVAL: seconds(2),
  /** How long an instance serves a subject's groups, roles and attributes from memory (seconds, 0: never): the longest a removed role or membership lasts in tokens and decisions. */
  AUTHZ_CACHE_TTL: z.coerce.number().int().min(0).default(5),
  /** How often each instance looks for a new policy version (seconds): the longest a `policy set` or rollback takes to be in force everywhere. */
  POLICY_REFRESH_INTERVAL: seconds(2),
  /** The share of policy denials (0 to 1) written to the audit trail as authz.denied; 0 writes none. */
  AUTHZ_AUDIT_DENIALS: z.coerce.number().min(0).max(1).default(0),
  /** JWT access tokens (RFC 9068) are signed with this; ES256 signs about 20x faster than RS256. */
  ACCESS_TOKEN_SIGNING_ALG: z.enum(['ES256', 'RS256']).default('ES256'),
  DEV_INTERACTIONS: flag,
  /** Reverse proxies whose X-Forwarded-* headers are believed (IPs or CIDRs); nobody else's are. */
  TRUSTED_PROXIES: proxyList,
  /** Rate limiting on every public endpoint; `false` only to compare throughput (npm run bench). */
  RATE_LIMIT_ENABLED: flagDefault(true),
  /**
   * Requests from one client address (an IPv6 /64) to any endpoint but /healthz and /metrics:
   * a sustained rate and a burst, as nginx's `limit_req rate=... burst=...`. A ceiling for
   * floods, generous enough for an office behind one NAT address or a conformance run.
   */
  RATE_LIMIT_PER_ADDRESS: rate('50/s'),
  RATE_LIMIT_PER_ADDRESS_BURST: burst(1000),
  /** GET /readyz from one address: a load balancer probes far below this; each probe is a database query. */
  RATE_LIMIT_READYZ: rate('5/s'),
  RATE_LIMIT_READYZ_BURST: burst(30),
  /**
   * Failed client authentications (401 invalid_client at the token, introspection, revocation
   * and PAR endpoints) from one address. Once spent, that address's client-authenticated
   * requests are answered 429 before they are processed; successful requests never spend it.
   */
  RATE_LIMIT_CLIENT_AUTH_FAILURES: rate('1/s'),
  RATE_LIMIT_CLIENT_AUTH_FAILURES_BURST: burst(50),
  /**
   * Requests of one client that authenticated (with a secret or a private_key_jwt assertion),
   * whatever address they come from. `gatehouse client update ID --rate-limit` raises it for one client.
   */
  RATE_LIMIT_PER_CLIENT: rate('50/s'),
  RATE_LIMIT_PER_CLIENT_BURST: burst(1000),
  /**
   * Failed password checks from one address at the login form, shared by every instance. The
   * burst must be at least LOCKOUT_THRESHOLD, so a guesser on one account meets the account's
   * lockout first; successful sign-ins never spend it.
   */
  RATE_LIMIT_LOGIN_FAILURES: rate('6/m'),
  RATE_LIMIT_LOGIN_FAILURES_BURST: burst(60),
  /** How often, in milliseconds, each instance adds what it spent on busy keys to the shared buckets and reads the others'. */
  RATE_LIMIT_SYNC_MS: z.coerce.number().int().min(10).max(10_000).default(100),
  /** Failed passwords in a row before an account is locked (Keycloak's default). */
  LOCKOUT_THRESHOLD: count(30),
  /** The first lockout, in seconds; each further failure adds LOCKOUT_WAIT_INCREMENT up to LOCKOUT_MAX_WAIT. */
  LOCKOUT_WAIT: seconds(60),
  LOCKOUT_WAIT_INCREMENT: seconds(60),
  LOCKOUT_MAX_WAIT: seconds(900),
  /** Seconds without a failure after which the failure count starts again from zero. */
  LOCKOUT_RESET_AFTER: seconds(12 * 3600),
  /** Audit events older than this many days are deleted by the sweeper. */
  AUDIT_RETENTION_DAYS: count(90),
  /** Serve /metrics on this separate port instead of the public one (recommended in production). */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /**
   * A bearer token /metrics on the public port requires. In production without METRICS_PORT,
   * /metrics is served on the public port only to a caller presenting it (it lists client ids).
   */
  METRICS_TOKEN: optionalSecret(32),
  /**
   * Addresses (IPs or CIDRs) of the API gateways that may ask /edge/v1/* for decisions: the TCP
   * peer, since the X-Forwarded-* headers there describe the protected request. Anyone else is
   * answered 403, so the endpoints are no token-checking oracle for the internet.
   */
  EDGE_CALLERS: edgeCallerList,
  /**
   * Domain of the edge session cookie, which browsers signed in at the edge carry to every
   * application below it (`example.test` for `*.example.test`); ISSUER's host must be in it. Unset:
   * the cookie belongs to ISSUER's host alone.
   */
  EDGE_COOKIE_DOMAIN: cookieDomain,
  /** How often each instance looks for added or removed edge routes (seconds). */
  EDGE_ROUTE_REFRESH_INTERVAL: seconds(2),
  /**
   * How long an instance takes a browser's Gatehouse session (behind its edge session) to be
   * alive without asking again (seconds): the longest a sign-out at Gatehouse takes to end edge
   * sessions on every instance.
   */
  EDGE_SESSION_CHECK_INTERVAL: seconds(5),
  /** node:cluster worker processes per instance (apps/server/cluster.ts). */
  WEB_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
  SHUTDOWN_TIMEOUT: seconds(10),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/**
 * OWASP's argon2id minimums trade memory for passes at about equal cost: 47104 KiB × 1,
 * 19456 × 2, 12288 × 3, 9216 × 4, 7168 × 5. Their smallest product is the floor.
 */
export const argon2Floor = 7168 * 5;

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

export type Env = z.infer<typeof envSchema>;

/** The names of every variable read, for documentation checks. */
export const envKeys = Object.keys(envSchema.shape);

export interface Config {
  env: Env['NODE_ENV'];
  production: boolean;
  port: number;
  host: string;
  issuer: string;
  databaseUrl?: string;
  dataDir: string;
  embeddedPgPort: number;
  dbPoolMax: number;
  secrets: { keyEncryptionKey?: string; cookieKeys?: string[]; clientSecretPepper?: string };
  argon2: { memoryCost: number; timeCost: number; parallelism: number };
  ttl: { accessToken: number; idToken: number; refreshToken: number; session: number };
  keys: { jwksMaxAge: number; refreshInterval: number };
  sweepInterval: number;
  clientCacheTtl: number;
  revocationRefreshInterval: number;
  authz: { cacheTtl: number; policyRefreshInterval: number; auditDenials: number };
  accessTokenSigningAlg: 'ES256' | 'RS256';
  devInteractions: boolean;
  trustedProxies: string[];
  rateLimit: { enabled: boolean; perAddress: Limit; readyz: Limit; clientAuthFailures: Limit; perClient: Limit; loginFailures: Limit; syncMs: number };
  lockout: { threshold: number; waitSeconds: number; waitIncrementSeconds: number; maxWaitSeconds: number; resetAfterSeconds: number };
  auditRetentionDays: number;
  metricsPort?: number;
  /** Who may read /metrics on the public port: anyone, a bearer of this token, or nobody. */
  publicMetrics: { token: string } | 'open' | 'off';
  shutdownTimeout: number;
  workers: number;
  /** Edge authorization for API gateways (apps/server/gateway). */
  edge: { callers: string[]; cookieDomain?: string; routeRefreshInterval: number; sessionCheckInterval: number };
  logLevel: Env['LOG_LEVEL'];
}

const isLoopback = (hostname: string) =>
  hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);

/** Variables an earlier version read, and what took their place: set, they would silently do nothing. */
const replacedVariables: Record<string, string> = {
  RATE_LIMIT_WINDOW: 'every limit is now a rate and a burst (RATE_LIMIT_PER_ADDRESS=50/s, RATE_LIMIT_PER_ADDRESS_BURST=1000, ...)',
  RATE_LIMIT_PER_IP: 'RATE_LIMIT_PER_ADDRESS and RATE_LIMIT_PER_ADDRESS_BURST',
  RATE_LIMIT_LOGIN_PER_IP: 'RATE_LIMIT_LOGIN_FAILURES and RATE_LIMIT_LOGIN_FAILURES_BURST (failed passwords only)',
};

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
  const e = parsed.data;
  const issuer = (e.ISSUER ?? `http://localhost:${e.PORT}`).replace(/\/$/, '');
  const config: Config = {
    env: e.NODE_ENV,
    production: e.NODE_ENV === 'production',
    port: e.PORT,
    host: e.HOST,
    issuer,
    databaseUrl: e.DATABASE_URL,
    // Relative to the checkout, not the working directory: the CLI run from anywhere must find
    // the same embedded database and development secrets as the server.
    dataDir: resolve(import.meta.dirname, '../../..', e.DATA_DIR),
    embeddedPgPort: e.EMBEDDED_PG_PORT,
    dbPoolMax: e.DB_POOL_MAX,
    secrets: {
      keyEncryptionKey: e.KEY_ENCRYPTION_KEY,
      cookieKeys: e.COOKIE_KEYS,
      clientSecretPepper: e.CLIENT_SECRET_PEPPER,
    },
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
    publicMetrics: e.METRICS_PORT !== undefined ? 'off' : e.METRICS_TOKEN ? { token: e.METRICS_TOKEN } : e.NODE_ENV === 'production' ? 'off' : 'open',
    shutdownTimeout: e.SHUTDOWN_TIMEOUT,
    workers: e.WEB_CONCURRENCY,
    edge: { callers: e.EDGE_CALLERS, cookieDomain: e.EDGE_COOKIE_DOMAIN, routeRefreshInterval: e.EDGE_ROUTE_REFRESH_INTERVAL, sessionCheckInterval: e.EDGE_SESSION_CHECK_INTERVAL },
    logLevel: e.LOG_LEVEL,
  };
  if (config.edge.cookieDomain) {
    const host = new URL(issuer).hostname;
    // The callback at ISSUER sets the cookie: a browser takes it only for a domain the host is in.
    if (host !== config.edge.cookieDomain && !host.endsWith(`.${config.edge.cookieDomain}`)) {
      throw new ConfigError('EDGE_COOKIE_DOMAIN', `must be ISSUER's host (${host}) or a domain it is in`);
    }
  }
  if (config.production) refuseInsecureProductionSettings(config);
  return config;
}

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

/** The parts of the configuration that are secrets, with every one of them present. */
export type Secrets = Required<Config['secrets']>;
