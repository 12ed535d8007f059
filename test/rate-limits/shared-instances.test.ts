import { useFleet } from './fleet.ts';
import { createServices } from '../../apps/core/services.ts';
import type { TestServer } from '../support/server.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';

// Instances share the buckets that matter through PostgreSQL, without a database round trip in
// any request; without PostgreSQL each one keeps limiting alone.

const fleet = useFleet({ env: { RATE_LIMIT_SYNC_MS: '20' } });
const { secrets, start } = fleet;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

describe('two instances on one database', () => {
  it('share one budget of failed client authentications for an address', async () => {
    const env = { RATE_LIMIT_CLIENT_AUTH_FAILURES: '1/m', RATE_LIMIT_CLIENT_AUTH_FAILURES_BURST: '10' };
    const [a, b] = [await start(env), await start(env)];
    const { clientId } = await createServices({ config: a.config, secrets, db: a.db }).clients.create({ name: 'svc', grantTypes: ['client_credentials'] });
    const send = fleet.from('127.0.0.90');
    const wrongSecret = async (server: TestServer) =>
      (
        await send(`${server.url}/token`, {
          method: 'POST',
          headers: { authorization: basic(clientId, 'wrong'), 'content-type': 'application/x-www-form-urlencoded' },
          body: 'grant_type=client_credentials',
        })
      ).status;

    for (let i = 0; i < 8; i++) expect(await wrongSecret(a)).toBe(401);
    await sleep(300); // a few sync intervals
    // Alone, B would allow ten; it knows of A's eight.
    expect([await wrongSecret(b), await wrongSecret(b), await wrongSecret(b)]).toEqual([401, 401, 429]);
    await sleep(300);
    expect(await wrongSecret(a)).toBe(429);
  });
});

describe('PostgreSQL unreachable', () => {
  it('keeps limiting on each instance alone, and says so once per 10 seconds', async () => {
    const direct = new URL(fleet.database.url);
    const proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port) });
    const through = new URL(fleet.database.url);
    through.port = String(proxy.port);
    const server = await start({ RATE_LIMIT_READYZ: '1/m', RATE_LIMIT_READYZ_BURST: '5' }, through.href);
    const send = fleet.from('127.0.0.91');
    try {
      await proxy.cut();
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        statuses.push((await send(`${server.url}/readyz`)).status);
        await sleep(50);
      }
      expect(statuses).toEqual([503, 503, 503, 503, 503, 429, 429, 429]);
      const warnings = server.logs.filter((l) => l.level === 40 && l.msg === 'rate limits not shared (database unreachable); limiting on this instance alone');
      expect(warnings).toHaveLength(1);
    } finally {
      await proxy.restore();
      await fleet.stop(server);
      await proxy.close();
    }
  });
});
