import * as client from 'openid-client';
import { createCookieJar } from '../support/cookie-jar.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { freePort, startTestServer, type TestServer } from '../support/server.ts';
import { authorizationRequest, PASSWORD, signIn, ssoFixtures } from '../support/sso.ts';
import { parseMetrics, sample } from '../support/prometheus.ts';

let database: TestDatabase;
let server: TestServer;
let fixtures: ReturnType<typeof ssoFixtures>;

beforeAll(async () => {
  database = await createTestDatabase();
  server = await startTestServer({ databaseUrl: database.url, env: { CLIENT_CACHE_TTL: '0' } });
  fixtures = ssoFixtures(server);
});

afterAll(async () => {
  await server?.close();
  await database?.drop();
});

const scrape = async () => {
  const response = await fetch(`${server.url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(await response.text());
};

describe('a full session of codes, tokens and a password', () => {
  const secrets: Record<string, string> = {};
  let userId: string;
  let appClientId: string;
  let serviceClientId: string;

  beforeAll(async () => {
    const user = await fixtures.createUser('observed@example.com');
    userId = user.id;
    const app = await fixtures.createClient();
    appClientId = app.clientId;
    secrets.appSecret = app.clientSecret!;
    secrets.password = PASSWORD;

    const jar = createCookieJar();
    const request = await authorizationRequest(app.config, app.redirectUri, { scope: 'openid profile email offline_access', prompt: 'consent' });
    const { callback } = await signIn(jar, request.url, { email: user.email, password: PASSWORD, consent: 'allow' });
    const callbackUrl = new URL(callback!);
    secrets.code = callbackUrl.searchParams.get('code')!;
    const tokens = await client.authorizationCodeGrant(app.config, callbackUrl, {
      pkceCodeVerifier: request.verifier,
      expectedState: request.state,
      expectedNonce: request.nonce,
    });
    secrets.accessToken = tokens.access_token;
    secrets.idToken = tokens.id_token!;
    secrets.refreshToken = tokens.refresh_token!;

    const refreshed = await client.refreshTokenGrant(app.config, secrets.refreshToken);
    secrets.refreshedAccess = refreshed.access_token;
    secrets.rotatedRefresh = refreshed.refresh_token!;
    // Replaying the first refresh token is reuse: the grant is revoked.
    await client.refreshTokenGrant(app.config, secrets.refreshToken).catch(() => undefined);

    const service = await fixtures.services.clients.create({ name: 'svc', grantTypes: ['client_credentials'] });
    serviceClientId = service.clientId;
    secrets.serviceSecret = service.clientSecret!;
    const basic = Buffer.from(`${service.clientId}:${service.clientSecret}`).toString('base64');
    const cc = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    secrets.clientCredentialsToken = ((await cc.json()) as { access_token: string }).access_token;
    await fetch(`${server.url}/token/revocation`, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: secrets.clientCredentialsToken }),
    });
    // Let the batched audit writes land.
    await new Promise((r) => setTimeout(r, 100));
  });

  it('writes none of the codes, tokens, secrets or the password to the log', () => {
    expect(server.rawLogs.length).toBeGreaterThan(10);
    for (const [name, value] of Object.entries(secrets)) {
      expect(value).toBeTruthy();
      const leaked = server.rawLogs.find((line) => line.includes(value));
      expect({ name, leaked }).toEqual({ name, leaked: undefined });
    }
  });

  it('logs one line per request with a request id, the route, status and client, and a path without its query', () => {
    const lines = server.logs.filter((l) => l.msg === 'request');
    expect(lines.length).toBeGreaterThan(8);
    for (const line of lines) {
      expect(line.reqId).toEqual(expect.any(String));
      expect(String(line.path)).not.toContain('?');
    }
    const token = lines.find((l) => l.path === '/token' && l.client_id === serviceClientId);
    expect(token).toMatchObject({ method: 'POST', route: '/token', status: 200 });
    expect(lines.some((l) => l.path === '/auth' && l.status === 303)).toBe(true);
  });

  it('records each event in the audit trail, without token values', async () => {
    const forUser = await fixtures.services.audit.tail({ userId, limit: 100 });
    const types = forUser.map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['user.created', 'login.succeeded', 'consent.granted', 'token.issued']));
    const login = forUser.find((e) => e.type === 'login.succeeded')!;
    expect(login).toMatchObject({ ip: '127.0.0.1', clientId: appClientId });
    expect(login.userAgent).toBeTruthy();

    const forApp = (await fixtures.services.audit.tail({ clientId: appClientId, limit: 100 })).map((e) => e.type);
    expect(forApp).toEqual(expect.arrayContaining(['client.created', 'refresh_token.reuse_detected', 'consent.revoked', 'token.issued']));

    const forService = await fixtures.services.audit.tail({ clientId: serviceClientId });
    expect(forService.map((e) => e.type)).toEqual(['client.created', 'token.issued', 'token.revoked']);
    expect(forService[1]).toMatchObject({
      actor: `client:${serviceClientId}`,
      ip: '127.0.0.1',
      details: { kind: 'client_credentials', grantType: 'client_credentials' },
    });

    const all = JSON.stringify(await fixtures.services.audit.tail({ limit: 1000 }));
    for (const value of Object.values(secrets)) expect(all).not.toContain(value);
  });

  it('counts requests, tokens by grant type and client, logins and pool use at /metrics', async () => {
    const samples = await scrape();
    expect(sample(samples, 'gatehouse_tokens_issued_total', { kind: 'client_credentials', grant_type: 'client_credentials', client_id: serviceClientId })).toBe(
      1,
    );
    expect(sample(samples, 'gatehouse_tokens_issued_total', { kind: 'refresh_token', grant_type: 'refresh_token', client_id: appClientId })).toBe(1);
    expect(sample(samples, 'gatehouse_tokens_issued_total', { kind: 'authorization_code', client_id: appClientId })).toBe(1);
    expect(sample(samples, 'gatehouse_logins_total', { outcome: 'succeeded' })).toBe(1);
    expect(sample(samples, 'gatehouse_http_requests_total', { method: 'POST', route: '/token', status: '200' })).toBeGreaterThanOrEqual(3);
    expect(sample(samples, 'gatehouse_http_request_duration_seconds_count', { route: '/token' })).toBeGreaterThanOrEqual(4);
    expect(samples.has('gatehouse_db_pool_connections{state="total"}')).toBe(true);
    expect(samples.has('process_cpu_user_seconds_total')).toBe(true);

    const before = sample(samples, 'gatehouse_http_requests_total', { route: '/healthz' });
    await fetch(`${server.url}/healthz`);
    expect(sample(await scrape(), 'gatehouse_http_requests_total', { route: '/healthz' })).toBe(before + 1);
  });
});

describe('request ids', () => {
  it('answers with X-Request-Id, keeping a sane incoming one and replacing anything else', async () => {
    const own = await fetch(`${server.url}/healthz`);
    expect(own.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const kept = await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'trace-1234abcd' } });
    expect(kept.headers.get('x-request-id')).toBe('trace-1234abcd');
    const replaced = await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'bad id\u00e9<script>' } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(server.logs.some((l) => l.reqId === 'trace-1234abcd' && l.msg === 'request')).toBe(true);
  });
});

describe('security headers and cookies', () => {
  it('sends nosniff, no framing and no referrer on protocol responses and pages', async () => {
    for (const path of ['/token', '/.well-known/openid-configuration', '/healthz', '/nope']) {
      const response = await fetch(`${server.url}${path}`, { method: path === '/token' ? 'POST' : 'GET' });
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    }
  });

  it('sets the interaction cookies HttpOnly and SameSite=Lax', async () => {
    const app = await fixtures.createClient();
    const { url } = await authorizationRequest(app.config, app.redirectUri);
    const response = await fetch(url, { redirect: 'manual' });
    const cookies = response.headers.getSetCookie();
    expect(cookies.length).toBeGreaterThan(0);
    for (const cookie of cookies) {
      expect(cookie).toMatch(/;\s*httponly/i);
      expect(cookie).toMatch(/;\s*samesite=lax/i);
    }
  });
});

describe('METRICS_PORT', () => {
  it('serves /metrics on its own port and not on the public one', async () => {
    const metricsPort = await freePort();
    const separate = await startTestServer({ databaseUrl: database.url, secrets: server.secrets, env: { METRICS_PORT: String(metricsPort) } });
    try {
      expect((await fetch(`${separate.url}/metrics`)).status).toBe(404);
      const scraped = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(scraped.status).toBe(200);
      expect(parseMetrics(await scraped.text()).has('process_cpu_user_seconds_total')).toBe(true);
    } finally {
      await separate.close();
    }
  });
});

describe('audit retention', () => {
  it('deletes events older than AUDIT_RETENTION_DAYS and keeps the rest', async () => {
    const old = new Date(Date.now() - 91 * 24 * 3600 * 1000);
    const recent = new Date(Date.now() - 89 * 24 * 3600 * 1000);
    await database.db.auditEvent.createMany({
      data: [
        { type: 'user.created', userId: 'retention-old', at: old },
        { type: 'user.created', userId: 'retention-recent', at: recent },
      ],
    });
    expect(await fixtures.services.audit.sweep(90)).toBe(1);
    expect(await fixtures.services.audit.tail({ userId: 'retention-old' })).toEqual([]);
    expect(await fixtures.services.audit.tail({ userId: 'retention-recent' })).toHaveLength(1);
  });
});
