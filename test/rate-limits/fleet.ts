import type { Clock } from '../../apps/core/clock.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { fetchFrom } from '../support/local-address.ts';
import { startTestServer, testSecrets, type TestServer } from '../support/server.ts';

/**
 * The servers of one test file: on one database with one set of secrets, so they share signing
 * keys and rate-limit rows as a deployment's instances do, and senders on chosen loopback
 * addresses. All are closed after the file's tests.
 */
export function useFleet({ clock, env: common = {} }: { clock?: Clock; env?: Record<string, string> } = {}) {
  const secrets = testSecrets();
  const servers: TestServer[] = [];
  const senders: Array<{ close(): void }> = [];
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    for (const sender of senders) sender.close();
    for (const server of servers) await server.close();
    await database.drop();
  });

  return {
    secrets,
    get database() {
      return database;
    },
    /** One more instance; `databaseUrl` points it elsewhere (through a proxy that can be cut). */
    async start(env: Record<string, string> = {}, databaseUrl = database.url) {
      const server = await startTestServer({ databaseUrl, secrets, env: { ...common, ...env }, clock });
      servers.push(server);
      return server;
    },
    async stop(server: TestServer) {
      servers.splice(servers.indexOf(server), 1);
      await server.close();
    },
    /** Requests sent from `address` (one of 127.0.0.0/8). */
    from(address: string) {
      const send = fetchFrom(address);
      senders.push(send);
      return send;
    },
  };
}
