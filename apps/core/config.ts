import { z } from 'zod';
import { ConfigError } from './errors.ts';

const seconds = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const flag = z.enum(['true', 'false', '1', '0']).default('false').transform((v) => v === 'true' || v === '1');
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
  ISSUER: z.url({ protocol: /^https?$/, error: 'expected an absolute http(s) URL' }).optional(),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/, error: 'expected a postgresql:// URL' }).optional(),
  DATA_DIR: z.string().min(1).default('.data'),
  EMBEDDED_PG_PORT: z.coerce.number().int().min(1).max(65535).default(54320),
  DB_POOL_MAX: z.coerce.number().int().min(1).max(500).default(10),
  KEY_ENCRYPTION_KEY: z.base64url().length(43, 'expected 32 bytes, base64url encoded (43 characters)').optional(),
  COOKIE_KEYS: optionalSecret(32),
  CLIENT_SECRET_PEPPER: optionalSecret(32),
  ARGON2_MEMORY_KIB: z.coerce.number().int().min(19456, 'expected at least 19456 (OWASP minimum)').default(19456),
  ARGON2_TIME_COST: z.coerce.number().int().min(2, 'expected at least 2 (OWASP minimum)').default(2),
  ARGON2_PARALLELISM: z.coerce.number().int().min(1).max(16).default(1),
  JWKS_MAX_AGE: seconds(300),
  KEY_REFRESH_INTERVAL: seconds(10),
  SWEEP_INTERVAL: seconds(60),
  ACCESS_TOKEN_TTL: seconds(3600),
  ID_TOKEN_TTL: seconds(3600),
  REFRESH_TOKEN_TTL: seconds(14 * 24 * 3600),
  SESSION_TTL: seconds(14 * 24 * 3600),
  CLIENT_CACHE_TTL: z.coerce.number().int().min(0).default(5),
  DEV_INTERACTIONS: flag,
  TRUST_PROXY: flag,
  SHUTDOWN_TIMEOUT: seconds(10),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
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
  devInteractions: boolean;
  trustProxy: boolean;
  shutdownTimeout: number;
  logLevel: Env['LOG_LEVEL'];
}

const isLoopback = (hostname: string) =>
  hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);

/** Parses the environment once. Throws a ConfigError naming the first bad variable. */
export function loadConfig(source: Record<string, string | undefined>): Config {
  const parsed = envSchema.safeParse(source);
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
    dataDir: e.DATA_DIR,
    embeddedPgPort: e.EMBEDDED_PG_PORT,
    dbPoolMax: e.DB_POOL_MAX,
    secrets: {
      keyEncryptionKey: e.KEY_ENCRYPTION_KEY,
      cookieKeys: e.COOKIE_KEYS?.split(',').map((k) => k.trim()),
      clientSecretPepper: e.CLIENT_SECRET_PEPPER,
    },
    argon2: { memoryCost: e.ARGON2_MEMORY_KIB, timeCost: e.ARGON2_TIME_COST, parallelism: e.ARGON2_PARALLELISM },
    ttl: { accessToken: e.ACCESS_TOKEN_TTL, idToken: e.ID_TOKEN_TTL, refreshToken: e.REFRESH_TOKEN_TTL, session: e.SESSION_TTL },
    keys: { jwksMaxAge: e.JWKS_MAX_AGE, refreshInterval: e.KEY_REFRESH_INTERVAL },
    sweepInterval: e.SWEEP_INTERVAL,
    clientCacheTtl: e.CLIENT_CACHE_TTL,
    devInteractions: e.DEV_INTERACTIONS,
    trustProxy: e.TRUST_PROXY,
    shutdownTimeout: e.SHUTDOWN_TIMEOUT,
    logLevel: e.LOG_LEVEL,
  };
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
