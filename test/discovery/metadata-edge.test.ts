import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { startTestServer, testSecrets, type TestServer } from '../support/server.ts';
import { sample, scrapeMetrics } from '../support/prometheus.ts';

// Discovery and JWKS, once rendered, are answered from memory before Koa (metadata-edge.ts).
// These check that such an answer is the full path's answer, with the same edge steps.

let database: TestDatabase;
// One set of secrets: the servers here share the database, and with it the signing keys.
const secrets = testSecrets();
const servers: TestServer[] = [];

async function start(env: Record<string, string> = {}) {
  const server = await startTestServer({ databaseUrl: database.url, secrets, env: { RATE_LIMIT_ENABLED: 'false', ...env } });
  servers.push(server);
  return server;
}

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  for (const server of servers) await server.close();
  await database?.drop();
});

/** Every header but those that differ per response by nature. */
const stableHeaders = (response: Response) =>
  Object.fromEntries([...response.headers].filter(([name]) => !['date', 'x-request-id', 'keep-alive', 'connection'].includes(name)));

describe.each(['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/jwks'])('GET %s from memory', (path) => {
  it('answers a repeat with the same status, headers and body as the request that rendered it', async () => {
    const server = await start();
    const rendering = await fetch(`${server.url}${path}`);
    const renderedBody = await rendering.text();
    for (const repeat of [await fetch(`${server.url}${path}`), await fetch(`${server.url}${path}`)]) {
      expect(repeat.status).toBe(200);
      expect(stableHeaders(repeat)).toEqual(stableHeaders(rendering));
      expect(await repeat.text()).toBe(renderedBody);
    }
    expect(stableHeaders(rendering)).toMatchObject({
      'content-security-policy': expect.stringContaining("frame-ancestors 'none'"),
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
      'access-control-allow-origin': '*',
    });
    expect(stableHeaders(rendering)).not.toHaveProperty('vary');
  });
});

describe('edge steps on an answer from memory', () => {
  it('keeps a sane X-Request-Id, replaces anything else, and logs each request under its id', async () => {
    const server = await start();
    await fetch(`${server.url}/jwks`);
    const kept = await fetch(`${server.url}/jwks`, { headers: { 'x-request-id': 'trace-edge-0001' } });
    expect(kept.headers.get('x-request-id')).toBe('trace-edge-0001');
    const replaced = await fetch(`${server.url}/jwks`, { headers: { 'x-request-id': 'no spaces <allowed>' } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const lines = server.logs.filter((l) => l.msg === 'request' && l.route === '/jwks');
    expect(lines.map((l) => l.reqId)).toEqual(expect.arrayContaining(['trace-edge-0001', replaced.headers.get('x-request-id')]));
    expect(lines.find((l) => l.reqId === 'trace-edge-0001')).toMatchObject({ method: 'GET', path: '/jwks', status: 200, ip: '127.0.0.1' });
  });

  it('counts every answer in the request metrics, 304s and HEADs included', async () => {
    const server = await start();
    const etag = (await fetch(`${server.url}/jwks`)).headers.get('etag')!;
    const count = async (status: string, method = 'GET') =>
      sample(await scrapeMetrics(server.url), 'gatehouse_http_requests_total', { route: '/jwks', status, method });
    const [ok, notModified, head] = [await count('200'), await count('304'), await count('200', 'HEAD')];
    await fetch(`${server.url}/jwks`);
    expect((await fetch(`${server.url}/jwks`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    expect((await fetch(`${server.url}/jwks`, { method: 'HEAD' })).status).toBe(200);
    expect(await count('200')).toBe(ok + 1);
    expect(await count('304')).toBe(notModified + 1);
    expect(await count('200', 'HEAD')).toBe(head + 1);
  });

  it('counts discovery against the per-IP limit of the forwarded client behind a trusted proxy, and answers 429 past it', async () => {
    const server = await start({
      RATE_LIMIT_ENABLED: 'true',
      RATE_LIMIT_PER_ADDRESS: '1/m',
      RATE_LIMIT_PER_ADDRESS_BURST: '3',
      TRUSTED_PROXIES: '127.0.0.0/8',
    });
    const discovery = (client?: string) => fetch(`${server.url}/.well-known/openid-configuration`, { headers: client ? { 'x-forwarded-for': client } : {} });
    // The proxy's own request counts under its own address, not its clients'.
    expect((await discovery()).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await discovery('198.51.100.20')).status).toBe(200);
    const refused = await discovery('198.51.100.20');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await refused.json()).toMatchObject({ error: 'rate_limited' });
    expect((await discovery()).status).toBe(200);
    expect((await discovery('198.51.100.21')).status).toBe(200);
    const line = server.logs.findLast((l) => l.msg === 'request' && l.route === '/.well-known/openid-configuration');
    expect(line).toMatchObject({ ip: '198.51.100.21', status: 200 });
  });
});
