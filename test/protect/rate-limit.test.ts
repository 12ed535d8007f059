import { createServices } from '../../apps/core/services.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { sample, scrapeMetrics } from './prometheus.ts';
import { startTestServer, testSecrets, type TestServer } from '../support/server.ts';

// Short enough to wait out, long enough that a slow CI machine fits a burst into one window.
const WINDOW = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

let database: TestDatabase;
// One set of secrets: every server here shares the database, and with it the signing keys.
const secrets = testSecrets();
const servers: TestServer[] = [];

async function start(env: Record<string, string>) {
  const server = await startTestServer({ databaseUrl: database.url, secrets, env: { RATE_LIMIT_WINDOW: String(WINDOW), RATE_LIMIT_SYNC_MS: '20', CLIENT_CACHE_TTL: '0', ...env } });
  servers.push(server);
  return server;
}

async function serviceClient(server: TestServer) {
  const services = createServices({ config: server.config, secrets: server.secrets, db: server.db });
  const { clientId, clientSecret } = await services.clients.create({ name: 'svc', grantTypes: ['client_credentials'] });
  return { clientId, clientSecret: clientSecret! };
}

const tokenRequest = (server: TestServer, client: { clientId: string; clientSecret: string }, headers: Record<string, string> = {}) =>
  fetch(`${server.url}/token`, {
    method: 'POST',
    headers: { authorization: basic(client.clientId, client.clientSecret), 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: 'grant_type=client_credentials',
  });

/** Waits until the current window (which began at the first counted request) is over. */
const nextWindow = () => sleep(WINDOW * 1000 + 300);

async function expectRateLimited(response: Response) {
  expect(response.status).toBe(429);
  const retryAfter = Number(response.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(WINDOW);
  expect(await response.json()).toEqual({ error: 'rate_limited', error_description: `too many requests; retry after ${retryAfter} seconds` });
}

beforeAll(async () => {
  database = await createTestDatabase();
});

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  // Every test starts with no shared counters (they all come from 127.0.0.1).
  await database.db.rateLimit.deleteMany();
});

afterAll(async () => {
  await database.drop();
});

describe('per-client limit on POST /token', () => {
  it('answers 429 rate_limited with Retry-After past the limit, and recovers after the window', async () => {
    const server = await start({ RATE_LIMIT_PER_CLIENT: '3' });
    const client = await serviceClient(server);
    for (let i = 0; i < 3; i++) expect((await tokenRequest(server, client)).status).toBe(200);
    await expectRateLimited(await tokenRequest(server, client));
    expect(sample(await scrapeMetrics(server.url), 'gatehouse_rate_limit_rejections_total', { rule: 'client' })).toBe(1);

    await nextWindow();
    expect((await tokenRequest(server, client)).status).toBe(200);
  });

  it('counts a client_secret_post client by its client_id form parameter', async () => {
    const server = await start({ RATE_LIMIT_PER_CLIENT: '2' });
    const services = createServices({ config: server.config, secrets: server.secrets, db: server.db });
    const { clientId, clientSecret } = await services.clients.create({ name: 'post', grantTypes: ['client_credentials'], authMethod: 'client_secret_post' });
    const post = () =>
      fetch(`${server.url}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret! }),
      });
    expect((await post()).status).toBe(200);
    expect((await post()).status).toBe(200);
    await expectRateLimited(await post());
  });

  it('holds across two instances sharing one PostgreSQL', async () => {
    const a = await start({ RATE_LIMIT_PER_CLIENT: '4' });
    const b = await start({ RATE_LIMIT_PER_CLIENT: '4' });
    const client = await serviceClient(a);
    for (let i = 0; i < 2; i++) expect((await tokenRequest(a, client)).status).toBe(200);
    await sleep(100); // one sync interval
    for (let i = 0; i < 2; i++) expect((await tokenRequest(b, client)).status).toBe(200);
    await sleep(100);
    await expectRateLimited(await tokenRequest(a, client));
    await expectRateLimited(await tokenRequest(b, client));

    await nextWindow();
    expect((await tokenRequest(b, client)).status).toBe(200);
    expect((await tokenRequest(a, client)).status).toBe(200);
  });
});

describe('per-IP limit on every public endpoint', () => {
  const endpoints: Array<[string, RequestInit & { path: string }]> = [
    ['GET /me', { path: '/me' }],
    ['GET /session/end', { path: '/session/end' }],
    ['POST /token/introspection', { path: '/token/introspection', method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=x' }],
    ['POST /token/revocation', { path: '/token/revocation', method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=x' }],
    ['GET /.well-known/openid-configuration', { path: '/.well-known/openid-configuration' }],
  ];

  it.each(endpoints)('limits %s per client IP and recovers after the window', async (_name, { path, ...init }) => {
    const server = await start({ RATE_LIMIT_PER_IP: '3' });
    const call = () => fetch(`${server.url}${path}`, { ...init, headers: { accept: 'application/json', ...(init.headers as Record<string, string>) } });
    for (let i = 0; i < 3; i++) expect((await call()).status).not.toBe(429);
    await expectRateLimited(await call());
    await nextWindow();
    expect((await call()).status).not.toBe(429);
  });

  it('does not let a forged X-Forwarded-For escape the limit when the peer is not a trusted proxy', async () => {
    const server = await start({ RATE_LIMIT_PER_IP: '3' });
    const call = (i: number) => fetch(`${server.url}/me`, { headers: { 'x-forwarded-for': `203.0.113.${i}` } });
    for (let i = 0; i < 3; i++) expect((await call(i)).status).not.toBe(429);
    await expectRateLimited(await call(99));
  });

  it('counts per forwarded client IP behind a trusted proxy, from the right-most untrusted hop', async () => {
    const server = await start({ RATE_LIMIT_PER_IP: '2', TRUSTED_PROXIES: '127.0.0.0/8' });
    // The proxy appends the address it saw; whatever the client put before it is not believed.
    const call = (forged: string, real: string) => fetch(`${server.url}/me`, { headers: { 'x-forwarded-for': `${forged}, ${real}` } });
    expect((await call('1.1.1.1', '198.51.100.7')).status).toBe(401);
    expect((await call('2.2.2.2', '198.51.100.7')).status).toBe(401);
    await expectRateLimited(await call('3.3.3.3', '198.51.100.7'));
    expect((await call('1.1.1.1', '198.51.100.8')).status).toBe(401);
  });

  it('never limits the health checks', async () => {
    const server = await start({ RATE_LIMIT_PER_IP: '1' });
    for (let i = 0; i < 4; i++) expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});

describe('per-IP limit on login submissions', () => {
  it('answers a browser with a friendly 429 page and Retry-After', async () => {
    const server = await start({ RATE_LIMIT_LOGIN_PER_IP: '2' });
    const submit = () =>
      fetch(`${server.url}/interaction/not-a-real-one/login`, {
        method: 'POST',
        headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
        body: 'email=a%40example.com&password=wrong',
        redirect: 'manual',
      });
    for (let i = 0; i < 2; i++) expect((await submit()).status).not.toBe(429);
    const limited = await submit();
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(limited.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await limited.text()).toContain('Too many attempts');

    await nextWindow();
    expect((await submit()).status).not.toBe(429);
  });
});

describe('RATE_LIMIT_ENABLED=false', () => {
  it('turns every limit off', async () => {
    const server = await start({ RATE_LIMIT_ENABLED: 'false', RATE_LIMIT_PER_IP: '1', RATE_LIMIT_PER_CLIENT: '1' });
    const client = await serviceClient(server);
    for (let i = 0; i < 3; i++) expect((await tokenRequest(server, client)).status).toBe(200);
  });
});
