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
  server = await startTestServer({ databaseUrl: viaProxy.href, env: { CLIENT_CACHE_TTL: '0' } });
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
});
