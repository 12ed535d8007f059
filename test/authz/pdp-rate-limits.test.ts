import { fetchFrom } from '../support/local-address.ts';
import { pdpCaller, startM2m, type M2mFixture } from '../support/m2m.ts';

let f: M2mFixture;
let token: string;
const body = JSON.stringify({ subject: { type: 'user', id: 'someone' }, action: { name: 'read' }, resource: { type: 'order', id: '1' } });
const from = { first: fetchFrom('127.0.0.2'), second: fetchFrom('127.0.0.3') };
const evaluate = (send: typeof from.first, bearer: string, headers: Record<string, string> = {}) =>
  send(`${f.server.running.url}/access/v1/evaluation`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}`, ...headers },
    body,
  });

beforeAll(async () => {
  f = await startM2m({
    RATE_LIMIT_ENABLED: 'true',
    // Small, so that the test shows what the decision point is and is not counted against.
    RATE_LIMIT_PER_ADDRESS: '5/s',
    RATE_LIMIT_PER_ADDRESS_BURST: '10',
    RATE_LIMIT_CLIENT_AUTH_FAILURES: '1/m',
    RATE_LIMIT_CLIENT_AUTH_FAILURES_BURST: '5',
  });
  ({ token } = await pdpCaller(f));
});
afterAll(async () => {
  from.first.close();
  from.second.close();
  await f?.close();
});

describe('rate limits at the policy decision point', () => {
  it("never counts a service's decisions against its address's request ceiling", async () => {
    const statuses = [];
    for (let i = 0; i < 60; i++) statuses.push((await evaluate(from.first, token)).status);
    expect(new Set(statuses)).toEqual(new Set([200]));
  });

  it('refuses an address that keeps presenting bad tokens with 429 and Retry-After, and not another address', async () => {
    const statuses = [];
    for (let i = 0; i < 8; i++) statuses.push((await evaluate(from.second, `bad-token-${i}`)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    const refused = await evaluate(from.second, token);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await evaluate(from.first, token)).status).toBe(200);
  });

  it('counts an untrusted peer by its own address, whatever X-Forwarded-For it sends', async () => {
    // 127.0.0.3 has spent its budget above; no proxy is trusted here.
    const forged = await evaluate(from.second, token, { 'x-forwarded-for': '198.51.100.77' });
    expect(forged.status).toBe(429);
  });
});
