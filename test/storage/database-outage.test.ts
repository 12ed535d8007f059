import { randomUUID } from 'node:crypto';
import { createServices } from '../../apps/core/services.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer, json } from '../support/server.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';

let t: TestDatabase;
let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
let server: TestServer;

beforeAll(async () => {
  t = await createTestDatabase();
  const direct = new URL(t.url);
  proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port) });
  const viaProxy = new URL(t.url);
  viaProxy.port = String(proxy.port);
  server = await startTestServer({ databaseUrl: viaProxy.href, env: { CLIENT_CACHE_TTL: '0', AUTHZ_CACHE_TTL: '0', POLICY_REFRESH_INTERVAL: '1' } });
});
afterAll(async () => {
  await proxy.restore().catch(() => {});
  await server.close();
  await proxy.close();
  await t.drop();
});

describe('when the database goes away', () => {
  it('says 503 at /readyz and at the token endpoint, stays alive, and recovers on its own', async () => {
    const { clientId, clientSecret } = await createServices({ config: server.config, secrets: server.secrets, db: t.db }).clients.create({
      name: 'outage',
      grantTypes: ['client_credentials'],
      scope: 'openid',
    });
    const token = () =>
      fetch(`${server.url}/token`, {
        method: 'POST',
        body: 'grant_type=client_credentials',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
        },
      });
    expect((await token()).status).toBe(200);

    await proxy.cut();

    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await json(ready)).toEqual({ status: 'unavailable', database: 'unreachable' });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);

    const failed = await token();
    expect(failed.status).toBe(503);
    expect(failed.headers.get('retry-after')).toBe('5');
    expect(await json(failed)).toMatchObject({ error: 'temporarily_unavailable' });

    await proxy.restore();

    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    expect((await token()).status).toBe(200);
  });

  it('answers a boxcar of AuthZEN evaluations 503 with Retry-After, as a problem, and recovers', async () => {
    const services = createServices({ config: server.config, secrets: server.secrets, db: t.db });
    await services.authz.policies.set('@id("everyone-reads") permit (principal, action == Action::"read", resource is order);');
    const { clientId, clientSecret } = await services.clients.create({ name: 'pdp outage', grantTypes: ['client_credentials'] });
    await services.apis.grantClient({ clientId, identifier: `${server.issuer}/access/v1`, scopes: ['access:evaluate'] });
    const issued = await fetch(`${server.url}/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: `${server.issuer}/access/v1`, scope: 'access:evaluate' }),
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}` },
    });
    const { access_token: token } = (await json(issued)) as { access_token: string };
    const evaluations = () =>
      fetch(`${server.url}/access/v1/evaluations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          action: { name: 'read' },
          resource: { type: 'order', id: '1' },
          // Ids a user could have (UUIDs), so each is looked up.
          evaluations: [1, 2, 3].map(() => ({ subject: { type: 'user', id: randomUUID() } })),
        }),
      });
    const deadline = Date.now() + 5000;
    let answered = await json(await evaluations());
    while (!answered.evaluations?.[0]?.decision && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      answered = await json(await evaluations());
    }
    expect(answered.evaluations.map((e: { decision: boolean }) => e.decision)).toEqual([true, true, true]);

    await proxy.cut();
    const failed = await evaluations();
    expect(failed.status).toBe(503);
    expect(failed.headers.get('retry-after')).toBe('5');
    expect(failed.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await json(failed)).toMatchObject({ status: 503, title: 'Service Unavailable' });

    await proxy.restore();
    expect((await evaluations()).status).toBe(200);
  });
});
