import { loadConfig, type Config } from '../core/config/config.ts';
import { ConfigError } from '../core/errors.ts';
import { createLogger } from '../core/logger.ts';
import { openRuntime, type Runtime } from '../core/db/runtime.ts';
import { startServer } from './server.ts';

/**
 * Runs one server process: configuration, database, listener, graceful shutdown. The only code of
 * the server that reads process.env (launch, in cluster.ts, loads `.env` into it first).
 */
export async function main(): Promise<void> {
  const startedAt = performance.now();
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`gatehouse: invalid configuration: ${error.message}\n`);
      process.exit(78);
    }
    throw error;
  }

  const log = createLogger({ level: config.logLevel });
  let runtime: Runtime;
  try {
    runtime = await openRuntime(config);
  } catch (error) {
    // Say what is wrong in one line (the database is unreachable, a migration failed); the cause goes to the log.
    log.error({ err: error }, 'start failed');
    process.stderr.write(`gatehouse: cannot start: ${(error as Error).message}\n`);
    process.exit(1);
  }
  if (runtime.generatedSecrets)
    log.warn({ dataDir: config.dataDir }, 'development secrets generated (set KEY_ENCRYPTION_KEY, COOKIE_KEYS and CLIENT_SECRET_PEPPER in production)');
  if (config.devInteractions) log.warn("DEV_INTERACTIONS is on: oidc-provider's development login pages are served");
  if (config.production && config.metricsPort === undefined && config.publicMetrics === 'off')
    log.info('/metrics is not served: set METRICS_PORT (a listener of its own) or METRICS_TOKEN (a bearer token for the public port)');

  const server = await startServer({ config, secrets: runtime.secrets, db: runtime.db, log });
  const database = runtime.embedded ? `embedded PostgreSQL, data in ${runtime.embedded.clusterDir}` : 'PostgreSQL at DATABASE_URL';
  if (runtime.embedded?.notes.length) log.warn({ notes: runtime.embedded.notes }, 'embedded PostgreSQL runs outside the checkout');
  log.info({ issuer: config.issuer, listen: server.url, database, startupMs: Math.round(performance.now() - startedAt) }, 'gatehouse started');
  if ((process.stdout.isTTY || process.env.npm_lifecycle_event === 'start') && !process.env.GATEHOUSE_WORKER) {
    process.stdout.write(
      [
        '',
        `  Gatehouse is running at ${config.issuer}`,
        `  Discovery:  ${config.issuer}/.well-known/openid-configuration`,
        `  Data:       ${database}`,
        '  Next:       npx gatehouse user create --email you@example.com   (asks for a password)',
        '',
        '',
      ].join('\n'),
    );
  }

  let stopping = false;
  async function shutdown(signal: string) {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await server.close();
    await runtime.close();
    log.info('stopped');
    process.exit(0);
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}
