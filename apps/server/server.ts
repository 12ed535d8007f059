import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config, Secrets } from '../core/config.ts';
import type { Database } from '../core/database.ts';
import type { Logger } from '../core/logger.ts';
import { createServices } from '../core/services.ts';
import { createApp } from './app.ts';
import { createClientLookup } from './client-adapter.ts';
import { answerDatabaseOutagesWith503, cacheMetadata } from './middleware/provider-extras.ts';
import { sweepExpired } from './prisma-adapter.ts';
import { createProvider } from './provider.ts';
import { createProviderHost } from './provider-host.ts';

export interface ServerDeps {
  config: Config;
  secrets: Secrets;
  db: Database;
  log: Logger;
}

export interface RunningServer {
  url: string;
  server: Server;
  /** Stops accepting, lets in-flight requests finish (up to SHUTDOWN_TIMEOUT), stops timers. */
  close(): Promise<void>;
}

/** Wires the services and starts listening. The caller owns the database and closes it after. */
export async function startServer({ config, secrets, db, log }: ServerDeps): Promise<RunningServer> {
  const { users, clients, keys } = createServices({ config, secrets, db });
  const clientLookup = createClientLookup(clients, config.clientCacheTtl);

  const created = await keys.ensureKeys();
  if (created.length) log.info({ kids: created }, 'created signing keys');

  const host = await createProviderHost({
    keys,
    refreshIntervalSeconds: config.keys.refreshInterval,
    onError: (err) => log.warn({ err }, 'key refresh failed'),
    build(keySet) {
      const provider = createProvider({ config, db, keySet, cookieKeys: secrets.cookieKeys, clients, clientLookup, users });
      provider.use(answerDatabaseOutagesWith503(provider));
      provider.use(cacheMetadata(config.keys.jwksMaxAge));
      provider.on('server_error', (_ctx, err) => log.error({ err }, 'provider error'));
      return provider;
    },
  });

  const app = createApp({ db, host, log, trustProxy: config.trustProxy });
  const server = createServer(app.callback());
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });

  const sweeper = setInterval(() => {
    Promise.all([sweepExpired(db), keys.sweep()])
      .then(([artifacts, retiredKeys]) => (artifacts || retiredKeys) && log.debug({ artifacts, retiredKeys }, 'swept expired rows'))
      .catch((err) => log.warn({ err }, 'sweep failed'));
  }, config.sweepInterval * 1000).unref();

  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`,
    server,
    async close() {
      clearInterval(sweeper);
      host.stop();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), config.shutdownTimeout * 1000).unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
    },
  };
}
