import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { startTestServer, testSecrets } from '../support/server.ts';

const TOKEN = 'metrics-token-for-this-test-only-0123456789';
const production = {
  NODE_ENV: 'production',
  KEY_ENCRYPTION_KEY: 'A'.repeat(43),
  COOKIE_KEYS: 'c'.repeat(43),
  CLIENT_SECRET_PEPPER: 'p'.repeat(43),
};

let database: TestDatabase;
// One set for every server here: they share the database and its encrypted keys.
const secrets = testSecrets();
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.drop());

async function metricsStatus(env: Record<string, string>, headers: Record<string, string> = {}) {
  const server = await startTestServer({ databaseUrl: database.url, secrets, env });
  try {
    const response = await fetch(`${server.running.url}/metrics`, { headers });
    const body = await response.text();
    return { status: response.status, listsMetrics: body.includes('gatehouse_http_requests_total') };
  } finally {
    await server.close();
  }
}

describe('GET /metrics on the public port (regression: public by default, listing every client id)', () => {
  it('is not served in production without METRICS_PORT or METRICS_TOKEN', async () => {
    expect(await metricsStatus(production)).toEqual({ status: 404, listsMetrics: false });
  });

  it('answers 401 in production to a caller without the METRICS_TOKEN bearer token, and 200 with it', async () => {
    const env = { ...production, METRICS_TOKEN: TOKEN };
    expect(await metricsStatus(env)).toEqual({ status: 401, listsMetrics: false });
    expect(await metricsStatus(env, { authorization: 'Bearer wrong' })).toEqual({ status: 401, listsMetrics: false });
    expect(await metricsStatus(env, { authorization: `Bearer ${TOKEN}` })).toEqual({ status: 200, listsMetrics: true });
  });

  it('is open in development, for a quick look', async () => {
    expect(await metricsStatus({})).toEqual({ status: 200, listsMetrics: true });
  });
});
