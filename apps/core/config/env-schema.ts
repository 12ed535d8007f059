import { z } from 'zod';
import { addressList, burst, cookieDomain, cookieKeys, count, flag, origin, port, rate, secondsOrZero, secret, seconds } from './env-values.ts';
import { variable, type Section } from './variable.ts';

// Every environment variable Gatehouse reads: its value, default and description, once.
// `npm run docs:config` writes `.env.example` and the README's table from this file.

/**
 * OWASP's argon2id minimums trade memory for passes at about equal cost: 47104 KiB × 1,
 * 19456 × 2, 12288 × 3, 9216 × 4, 7168 × 5. Their smallest product is the floor.
 */
export const argon2Floor = 7168 * 5;

const server = {
  NODE_ENV: variable(z.enum(['development', 'production', 'test']), {
    default: 'development',
    description:
      '`development`, `production` or `test`. `production` refuses to start with an http ISSUER off loopback, without KEY_ENCRYPTION_KEY, COOKIE_KEYS or CLIENT_SECRET_PEPPER, or with `DEV_INTERACTIONS=true`.',
  }),
  PORT: variable(port(0), { default: '3000', description: 'TCP port of the public listener (0: any free port).' }),
  HOST: variable(z.string().min(1), {
    default: '0.0.0.0',
    description: "Address the public listener, and METRICS_PORT's, bind to; `127.0.0.1` to accept only a reverse proxy on the same machine.",
  }),
  ISSUER: variable(origin(), {
    unset: '`http://localhost:$PORT`',
    example: 'http://localhost:3000',
    description:
      "Public URL of Gatehouse, an origin with no path: the `iss` of every token, and the origin of every URL it publishes or expects, whatever a request's `Host` says. Must be https in production (loopback excepted).",
  }),
  TRUSTED_PROXIES: variable(addressList(), {
    default: '',
    description:
      'Reverse proxies (comma-separated IPs or CIDRs) whose `X-Forwarded-*` headers are believed; from anyone else those headers are removed, so they change neither rate limits nor logs.',
  }),
  WEB_CONCURRENCY: variable(z.coerce.number().int().min(1).max(64), {
    default: '1',
    description:
      '`node:cluster` worker processes per instance, sharing one listening socket. Raise it to use more cores: each worker has its own memory and its own DB_POOL_MAX connections.',
  }),
  SHUTDOWN_TIMEOUT: variable(seconds(), {
    default: '10',
    description: 'Seconds in-flight requests get to finish on SIGTERM or SIGINT before their connections are closed.',
  }),
};

const database = {
  DATABASE_URL: variable(z.url({ protocol: /^postgres(ql)?$/, error: 'expected a postgresql:// URL' }), {
    unset: 'unset: embedded',
    example: 'postgresql://gatehouse:password@localhost:5432/gatehouse',
    description:
      'PostgreSQL URL; unset, an embedded PostgreSQL under `DATA_DIR/pg`. Gatehouse adds `-c plan_cache_mode=force_generic_plan` to its startup `options`: behind PgBouncer 1.20 or later, list `plan_cache_mode` in its `track_extra_parameters`.',
  }),
  DATA_DIR: variable(z.string().min(1), {
    default: '.data',
    description:
      'Folder of the embedded database and the generated development secrets. A relative path is taken from the checkout, not the working directory, so the CLI finds the same data from anywhere.',
  }),
  EMBEDDED_PG_PORT: variable(port(1), {
    default: '54320',
    description: 'Port of the embedded PostgreSQL, which listens on 127.0.0.1 only; if the port is taken, `npm start` stops and says so.',
  }),
  DB_POOL_MAX: variable(z.coerce.number().int().min(1).max(500), {
    default: '10',
    description:
      "Database connections per process: each WEB_CONCURRENCY worker has its own pool, so an instance opens up to WEB_CONCURRENCY × DB_POOL_MAX. Keep that, times the instances, below PostgreSQL's `max_connections`.",
  }),
};

const secrets = {
  KEY_ENCRYPTION_KEY: variable(z.base64url().length(43, 'expected 32 bytes, base64url encoded (43 characters)'), {
    unset: 'generated in development',
    description:
      '32 random bytes, base64url (43 characters): encrypts the private signing keys at rest (AES-256-GCM). Without it the stored keys cannot be read.',
  }),
  COOKIE_KEYS: variable(cookieKeys(), {
    unset: 'generated in development',
    description:
      'Comma-separated keys of 32+ characters each that sign cookies: the first signs and roots the CSRF key, all verify, so a new key goes in front of the old.',
  }),
  CLIENT_SECRET_PEPPER: variable(secret(32), {
    unset: 'generated in development',
    description: 'Key (32+ characters) of the HMAC-SHA-256 under which client secrets are stored; changing it makes every stored client secret fail.',
  }),
};

const passwords = {
  ARGON2_MEMORY_KIB: variable(z.coerce.number().int().min(7168, 'expected at least 7168 (OWASP minimum)'), {
    default: '7168',
    description: `argon2id memory per hash, in KiB (7 MiB: OWASP's low-memory minimum and Keycloak's default). ARGON2_MEMORY_KIB × ARGON2_TIME_COST must reach ${argon2Floor}; 19456 × 2 is the same cost in more memory.`,
  }),
  ARGON2_TIME_COST: variable(z.coerce.number().int().min(1), {
    default: '5',
    description: 'argon2id passes over that memory. Raise it, or the memory, when sign-ins can afford more time per password check.',
  }),
  ARGON2_PARALLELISM: variable(z.coerce.number().int().min(1).max(16), { default: '1', description: 'argon2id lanes per hash, 1 to 16.' }),
};

const tokens = {
  ACCESS_TOKEN_SIGNING_ALG: variable(z.enum(['ES256', 'RS256']), {
    default: 'ES256',
    description:
      'Algorithm of JWT access tokens (RFC 9068), `ES256` (signs many times faster) or `RS256` (for resource servers that cannot verify ES256). ID tokens use RS256 unless the client registered otherwise.',
  }),
  ACCESS_TOKEN_TTL: variable(seconds(), {
    default: '3600',
    description: "Lifetime of access tokens for no registered API (opaque, for userinfo), in seconds; an API's tokens live its own `--ttl`.",
  }),
  ID_TOKEN_TTL: variable(seconds(), { default: '3600', description: 'Lifetime of ID tokens, in seconds.' }),
  REFRESH_TOKEN_TTL: variable(seconds(), {
    default: '1209600',
    description: 'Lifetime of refresh tokens and of the grants behind them, in seconds (14 days).',
  }),
  SESSION_TTL: variable(seconds(), {
    default: '1209600',
    description: "Lifetime of a browser's session at Gatehouse and at the edge, in seconds (14 days): how long single sign-on lasts.",
  }),
  JWKS_MAX_AGE: variable(seconds(), {
    default: '300',
    description:
      '`Cache-Control` max-age of JWKS and discovery, in seconds. A rotated key signs only after JWKS_MAX_AGE + 2 × KEY_REFRESH_INTERVAL + 30 seconds, so that every verifier has it first.',
  }),
  KEY_REFRESH_INTERVAL: variable(seconds(), { default: '10', description: 'How often each instance re-reads the signing keys, in seconds.' }),
  REVOCATION_REFRESH_INTERVAL: variable(seconds(), {
    default: '2',
    description:
      'How often each instance reads the tokens, grants and users other instances revoked, in seconds: the longest a revocation takes to be refused everywhere (the instance that revokes refuses at once).',
  }),
};

const caches = {
  CLIENT_CACHE_TTL: variable(secondsOrZero(), {
    default: '5',
    description: "How long an instance serves a client's or an API's registration from memory, in seconds (0: never).",
  }),
  SWEEP_INTERVAL: variable(seconds(), {
    default: '60',
    description: 'How often each instance deletes expired provider rows, retired keys, old audit events, revocations and rate-limit buckets, in seconds.',
  }),
  AUDIT_RETENTION_DAYS: variable(count(), { default: '90', description: 'Audit events older than this many days are deleted.' }),
};

const rateLimits = {
  RATE_LIMIT_ENABLED: variable(flag(), {
    default: 'true',
    description: 'Rate limiting on every public endpoint; `false` only to measure throughput (`npm run bench`), never in production.',
  }),
  RATE_LIMIT_PER_ADDRESS: variable(rate(), {
    default: '50/s',
    description:
      'Requests from one client address to any endpoint but `/healthz` and `/metrics`: a flood ceiling, generous enough for an office behind one NAT address signing in at once.',
  }),
  RATE_LIMIT_PER_ADDRESS_BURST: variable(burst(), { default: '1000', description: 'Burst of RATE_LIMIT_PER_ADDRESS.' }),
  RATE_LIMIT_READYZ: variable(rate(), {
    default: '5/s',
    description: '`GET /readyz` from one address; each probe is a database query, and load balancers probe far below this.',
  }),
  RATE_LIMIT_READYZ_BURST: variable(burst(), { default: '30', description: 'Burst of RATE_LIMIT_READYZ.' }),
  RATE_LIMIT_CLIENT_AUTH_FAILURES: variable(rate(), {
    default: '1/s',
    description:
      "Failed client authentications (401 `invalid_client` at `/token`, `/token/introspection`, `/token/revocation` and `/request`) from one address. Once spent, that address's client-authenticated requests get 429 before they are processed; successful requests never spend it.",
  }),
  RATE_LIMIT_CLIENT_AUTH_FAILURES_BURST: variable(burst(), { default: '50', description: 'Burst of RATE_LIMIT_CLIENT_AUTH_FAILURES.' }),
  RATE_LIMIT_PER_CLIENT: variable(rate(), {
    default: '50/s',
    description:
      'Requests of one authenticated client, from any address. Raise it for one heavy service with `gatehouse client update ID --rate-limit 500/s [--rate-limit-burst N]` rather than for every client.',
  }),
  RATE_LIMIT_PER_CLIENT_BURST: variable(burst(), { default: '1000', description: 'Burst of RATE_LIMIT_PER_CLIENT.' }),
  RATE_LIMIT_LOGIN_FAILURES: variable(rate(), {
    default: '6/m',
    description: 'Failed password checks from one address at the login form; successful sign-ins never spend it.',
  }),
  RATE_LIMIT_LOGIN_FAILURES_BURST: variable(burst(), {
    default: '60',
    description: "Burst of RATE_LIMIT_LOGIN_FAILURES; at least LOCKOUT_THRESHOLD, so that a guesser on one account meets the account's lockout first.",
  }),
  RATE_LIMIT_SYNC_MS: variable(z.coerce.number().int().min(10).max(10_000), {
    default: '100',
    description:
      "How often each instance adds what it spent on busy keys to the shared buckets and reads the others', in milliseconds (10 to 10000): lower is more exact across instances, higher writes less.",
  }),
};

const lockout = {
  LOCKOUT_THRESHOLD: variable(count(), { default: '30', description: 'Failed passwords in a row before an account is locked.' }),
  LOCKOUT_WAIT: variable(seconds(), { default: '60', description: 'The first lockout, in seconds.' }),
  LOCKOUT_WAIT_INCREMENT: variable(seconds(), { default: '60', description: 'Seconds each further failure adds to the lockout.' }),
  LOCKOUT_MAX_WAIT: variable(seconds(), { default: '900', description: 'The longest lockout, in seconds.' }),
  LOCKOUT_RESET_AFTER: variable(seconds(), {
    default: '43200',
    description: 'Seconds without a failure after which the count starts again from zero (12 hours).',
  }),
};

const authorization = {
  AUTHZ_CACHE_TTL: variable(secondsOrZero(), {
    default: '5',
    description:
      "How long an instance serves a subject's groups, roles and attributes from memory, in seconds (0: never): the longest a removed role or membership lasts in new tokens and decisions.",
  }),
  POLICY_REFRESH_INTERVAL: variable(seconds(), {
    default: '2',
    description: 'How often each instance looks for a new policy version, in seconds: the longest a `policy set` or rollback takes to be in force everywhere.',
  }),
  AUTHZ_AUDIT_DENIALS: variable(z.coerce.number().min(0).max(1), {
    default: '0',
    description: 'The share of policy denials (0 to 1) written to the audit trail as `authz.denied`; 0 writes none.',
  }),
};

const edge = {
  EDGE_CALLERS: variable(addressList(), {
    default: '127.0.0.0/8,::1',
    description:
      'Addresses (IPs or CIDRs) of the API gateways that may ask `/edge/v1/*` for decisions, as the TCP peer; anyone else gets 403, so the endpoints are no token-checking oracle for the internet.',
  }),
  EDGE_COOKIE_DOMAIN: variable(cookieDomain(), {
    unset: "unset: ISSUER's host",
    description:
      "Domain of the edge session cookie, which browsers signed in at the edge carry to every application below it (`example.test` for `*.example.test`); ISSUER's host must be in it.",
  }),
  EDGE_ROUTE_REFRESH_INTERVAL: variable(seconds(), {
    default: '2',
    description: 'How often each instance looks for added or removed edge routes, in seconds.',
  }),
  EDGE_SESSION_CHECK_INTERVAL: variable(seconds(), {
    default: '5',
    description:
      "How long an instance takes a browser's Gatehouse session to be alive without asking again, in seconds: the longest a sign-out at Gatehouse takes to end edge sessions everywhere.",
  }),
};

const observability = {
  LOG_LEVEL: variable(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), {
    default: 'info',
    description: 'pino level: `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`.',
  }),
  METRICS_PORT: variable(port(0), {
    example: '9464',
    description: 'Serve `/metrics` (Prometheus) on this separate port instead of the public one; recommended in production.',
  }),
  METRICS_TOKEN: variable(secret(32), {
    description:
      'Without METRICS_PORT, a bearer token (32+ characters) that `/metrics` on the public port requires. In production with neither, `/metrics` is not served on the public port (it lists client ids).',
  }),
};

const development = {
  DEV_INTERACTIONS: variable(flag(), {
    default: 'false',
    description: "oidc-provider's built-in development login pages (its `devInteractions` feature); refused in production.",
  }),
};

/** The documents' order and headings. */
export const sections: Section[] = [
  { title: 'Server', variables: server },
  { title: 'Database', variables: database },
  {
    title: 'Secrets',
    intro: 'Required in production. In development, each one not set is generated once and kept in `DATA_DIR/secrets.json` (mode 0600).',
    variables: secrets,
  },
  {
    title: 'Passwords',
    intro: "argon2id, with OWASP's minimums enforced. A stored hash made with other parameters is re-hashed at its next sign-in.",
    variables: passwords,
  },
  { title: 'Tokens and keys', variables: tokens },
  { title: 'Caches and housekeeping', variables: caches },
  {
    title: 'Rate limits',
    intro:
      "Token buckets, shared by every instance through PostgreSQL. Each limit is a sustained rate (`N/s`, `N/m` or `N/h`, as nginx's `limit_req rate=`) and a burst (1 to 1000000): how many requests may come at once before the rate applies. IPv6 addresses count per /64.",
    variables: rateLimits,
  },
  { title: 'Lockout', intro: "Brute-force defence on each account's password, with Keycloak's defaults.", variables: lockout },
  { title: 'Authorization', variables: authorization },
  {
    title: 'Edge',
    intro: 'Edge authorization for API gateways (nginx `auth_request`, Traefik `forwardAuth`, Caddy `forward_auth`, Envoy `ext_authz`).',
    variables: edge,
  },
  { title: 'Observability', variables: observability },
  { title: 'Development', variables: development },
];

export const envSchema = z.object({
  ...server,
  ...database,
  ...secrets,
  ...passwords,
  ...tokens,
  ...caches,
  ...rateLimits,
  ...lockout,
  ...authorization,
  ...edge,
  ...observability,
  ...development,
});

export type Env = z.infer<typeof envSchema>;

/** The names of every variable read, for documentation checks. */
export const envKeys = Object.keys(envSchema.shape);
