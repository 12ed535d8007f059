import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { Clock } from '../../apps/core/clock.ts';
import { loadConfig, type Config, type Secrets } from '../../apps/core/config/config.ts';
import { createDatabase, type Database } from '../../apps/core/db/database.ts';
import { createLogger } from '../../apps/core/logger.ts';
import { startServer, type RunningServer } from '../../apps/server/server.ts';
import { freePort } from './ports.ts';

export { freePort };

/** Secrets for one test run: random, so nothing in the repository looks like a real one. */
export const testSecrets = (): Secrets => ({
  keyEncryptionKey: randomBytes(32).toString('base64url'),
  cookieKeys: [randomBytes(32).toString('base64url')],
  clientSecretPepper: randomBytes(32).toString('base64url'),
});

export interface TestServer {
  url: string;
  issuer: string;
  config: Config;
  secrets: Secrets;
  db: Database;
  /** Every log line the server wrote, parsed. */
  logs: Array<Record<string, unknown>>;
  rawLogs: string[];
  running: RunningServer;
  close(): Promise<void>;
}

/**
 * A real Gatehouse server on a loopback port, against a real PostgreSQL. `clock`: what the
 * server reads the time from (support/clock.ts moves it), instead of the system's.
 */
export async function startTestServer(options: { databaseUrl: string; secrets?: Secrets; env?: Record<string, string>; clock?: Clock }): Promise<TestServer> {
  const port = await freePort();
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: String(port),
    HOST: '127.0.0.1',
    ISSUER: `http://127.0.0.1:${port}`,
    DATABASE_URL: options.databaseUrl,
    ...options.env,
  });
  const secrets = options.secrets ?? testSecrets();
  const db = createDatabase({ url: options.databaseUrl, poolMax: config.dbPoolMax });
  const rawLogs: string[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        rawLogs.push(line);
        logs.push(JSON.parse(line));
      }
      done();
    },
  });
  const log = createLogger({ level: 'debug', destination });
  const running = await startServer({ config, secrets, db, log, clock: options.clock });
  return {
    url: config.issuer,
    issuer: config.issuer,
    config,
    secrets,
    db,
    logs,
    rawLogs,
    running,
    async close() {
      await running.close();
      await db.$disconnect();
    },
  };
}

/**
 * Fails each test during which `server` logged an error (level 50 and up): for refusals that are
 * the caller's fault. Each test is judged on its own log lines, so the check holds whichever
 * tests run, in whatever order, or alone.
 */
export function expectNoServerErrorInEachTest(server: () => TestServer) {
  let before = 0;
  beforeEach(() => {
    before = server().logs.length;
  });
  afterEach(() => {
    expect(
      server()
        .logs.slice(before)
        .filter((line) => Number(line.level) >= 50),
    ).toEqual([]);
  });
}

/** A response body as JSON, loosely typed for assertions. */
// biome-ignore lint/suspicious/noExplicitAny: assertions read any field of any answer
export const json = async (res: Response): Promise<any> => res.json();
