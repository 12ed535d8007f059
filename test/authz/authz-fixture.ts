import { loadConfig } from '../../apps/core/config/config.ts';
import { createServices, type Services } from '../../apps/core/services.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { testSecrets } from '../support/server.ts';

export const ORDERS = 'https://orders.example.test';
export const LEDGER = 'https://ledger.example.test';

export interface AuthzFixture {
  database: TestDatabase;
  services: Services;
  secrets: ReturnType<typeof testSecrets>;
  /** A user row (no password anyone knows: these tests never sign in). */
  user(email: string, name?: string): Promise<string>;
  client(name: string): Promise<string>;
  close(): Promise<void>;
}

/** A database of its own with the orders and ledger APIs, and the services on it (the CLI's actor). */
export async function startAuthz(env: Record<string, string> = {}): Promise<AuthzFixture> {
  const database = await createTestDatabase();
  const secrets = testSecrets();
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: database.url, ...env });
  const services = createServices({ config, secrets, db: database.db, actor: 'cli' });
  await services.apis.create({ identifier: ORDERS, scopes: ['orders:read', 'orders:write', 'orders:delete'] });
  await services.apis.create({ identifier: LEDGER, scopes: ['ledger:read'] });
  return {
    database,
    services,
    secrets,
    user: async (email, name) => (await database.db.user.create({ data: { email, name, passwordHash: 'not-a-hash' } })).id,
    client: async (name) => (await services.clients.create({ name, grantTypes: ['client_credentials'] })).clientId,
    close: () => database.drop(),
  };
}
