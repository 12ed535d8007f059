import { useFleet } from './fleet.ts';
import { createTestClock } from '../support/clock.ts';
import type { Fetch } from '../support/local-address.ts';
import type { TestServer } from '../support/server.ts';
import { sample, scrapeMetrics } from '../support/prometheus.ts';

// The per-address request ceiling and /readyz's own limit; what an address is (IPv6 /64,
// X-Forwarded-For hops with ports or without an address). Issue 16 item 2, issue 15 item 7.

// The servers' clock: buckets refill by it.
const clock = createTestClock();
const fleet = useFleet({ clock });
const start = (env: Record<string, string>) => fleet.start(env);
const from = fleet.from;

describe('behind a trusted proxy, with a ceiling of 3 requests per address', () => {
  let server: TestServer;
  let proxy: Fetch;
  beforeAll(async () => {
    server = await start({ RATE_LIMIT_PER_ADDRESS: '1/m', RATE_LIMIT_PER_ADDRESS_BURST: '3', TRUSTED_PROXIES: '127.0.0.1' });
    proxy = from('127.0.0.1');
  });

  /** A request the proxy forwards for `client` (an X-Forwarded-For value), or makes itself. */
  const via = async (client?: string, path = '/me') => (await proxy(`${server.url}${path}`, { headers: client ? { 'x-forwarded-for': client } : {} })).status;

  it('counts IPv6 clients per /64, whatever the spelling (regression: per /128, a fresh budget per address)', async () => {
    for (const client of ['2001:db8:1:2::a', '2001:db8:1:2:ffff::1', '2001:db8:1:2:0:0:ffff:1']) expect(await via(client)).toBe(401);
    expect(await via('2001:DB8:1:2::99')).toBe(429);
    expect(await via('2001:db8:1:3::1')).toBe(401);
  });

  it('counts an IPv4-mapped IPv6 client as its IPv4 address', async () => {
    for (let i = 0; i < 3; i++) expect(await via('198.51.100.7')).toBe(401);
    expect(await via('::ffff:198.51.100.7')).toBe(429);
  });

  it("counts a hop with a port as its address, not as the proxy (regression: every client shared the proxy's budget)", async () => {
    for (const client of ['203.0.113.5:51234', '203.0.113.5:51235', '203.0.113.5']) expect(await via(client)).toBe(401);
    expect(await via('203.0.113.5:443')).toBe(429);
    expect(await via('203.0.113.6:51234')).toBe(401);
    for (const client of ['[2001:db8:9::1]:443', '[2001:db8:9::2]:8443', '2001:db8:9::3']) expect(await via(client)).toBe(401);
    expect(await via('[2001:db8:9::4]:443')).toBe(429);
    expect(await via()).toBe(401);
    const line = server.logs.findLast((l) => l.msg === 'request' && l.status === 401);
    expect(line).toMatchObject({ ip: '127.0.0.1' });
    expect(server.logs.filter((l) => l.msg === 'request' && l.ip === '203.0.113.6')).toHaveLength(1);
  });

  it('gives clients a hop names without an address (`unknown`, RFC 7239 obfuscated ids) a budget of their own, apart from the proxy', async () => {
    for (let i = 0; i < 3; i++) expect(await via('unknown')).toBe(401);
    expect(await via('unknown')).toBe(429);
    for (let i = 0; i < 3; i++) expect(await via('_hidden1')).toBe(401);
    expect(await via('_hidden2')).toBe(401);
    expect(await via('198.51.100.9')).toBe(401);
    expect(await via('_odd<script>')).toBe(401);
    expect(server.logs.findLast((l) => l.msg === 'request')).toMatchObject({ ip: '_oddscript' });
  });

  it('believes no X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    const peer = from('127.0.0.50');
    const call = async (forged: string) => (await peer(`${server.url}/me`, { headers: { 'x-forwarded-for': forged } })).status;
    for (let i = 0; i < 3; i++) expect(await call(`198.51.100.${100 + i}`)).toBe(401);
    expect(await call('198.51.100.200')).toBe(429);
  });

  it('answers discovery and JWKS from memory within the ceiling, and 429 past it', async () => {
    const peer = from('127.0.0.51');
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await peer(`${server.url}/jwks`)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const refused = await peer(`${server.url}/.well-known/openid-configuration`);
    expect(refused.status).toBe(429);
    expect(await refused.json()).toEqual({ error: 'rate_limited', error_description: expect.stringMatching(/^too many requests; retry after \d+ seconds$/) });
  });

  it('answers a browser at the sign-in pages with the HTML 429 page', async () => {
    const peer = from('127.0.0.52');
    for (let i = 0; i < 3; i++) await peer(`${server.url}/auth`, { headers: { accept: 'text/html' } });
    const refused = await peer(`${server.url}/auth?client_id=x`, { headers: { accept: 'text/html' } });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await refused.text()).toMatch(/Please wait \d+ seconds, then try again\./);
  });

  it('never limits /healthz or /metrics', async () => {
    const peer = from('127.0.0.53');
    for (let i = 0; i < 6; i++) expect((await peer(`${server.url}/healthz`)).status).toBe(200);
    for (let i = 0; i < 6; i++) expect((await peer(`${server.url}/metrics`)).status).toBe(200);
    expect(sample(await scrapeMetrics(server.url), 'gatehouse_rate_limit_rejections_total', { rule: 'address' })).toBeGreaterThan(0);
  });
});

describe('/readyz', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await start({ RATE_LIMIT_READYZ: '20/s', RATE_LIMIT_READYZ_BURST: '5' });
  });

  it("never refuses probes at a load balancer's pace, and refuses a flood (regression: exempt from every limit)", async () => {
    const balancer = from('127.0.0.60');
    for (let i = 0; i < 20; i++) {
      expect((await balancer(`${server.url}/readyz`)).status).toBe(200);
      clock.advance(100);
    }
    const flooder = from('127.0.0.61');
    const answers = await Promise.all(Array.from({ length: 30 }, () => flooder(`${server.url}/readyz`)));
    const refused = answers.filter((a) => a.status === 429);
    expect(refused.length).toBeGreaterThanOrEqual(20);
    expect(refused[0].headers.get('retry-after')).toBe('1');
    expect(await refused[0].json()).toEqual({ error: 'rate_limited', error_description: 'too many requests; retry after 1 second' });
    expect((await balancer(`${server.url}/readyz`)).status).toBe(200);
    expect(sample(await scrapeMetrics(server.url), 'gatehouse_rate_limit_rejections_total', { rule: 'readyz' })).toBe(refused.length);
  });
});

describe('refill', () => {
  it('lets an address in again once its bucket has refilled at the sustained rate', async () => {
    const server = await start({ RATE_LIMIT_PER_ADDRESS: '10/s', RATE_LIMIT_PER_ADDRESS_BURST: '3' });
    const peer = from('127.0.0.70');
    const call = async () => (await peer(`${server.url}/me`)).status;
    expect([await call(), await call(), await call(), await call()]).toEqual([401, 401, 401, 429]);
    clock.advance(100);
    expect(await call()).toBe(401);
  });
});

describe('RATE_LIMIT_ENABLED=false', () => {
  it('turns every limit off', async () => {
    const server = await start({ RATE_LIMIT_ENABLED: 'false', RATE_LIMIT_PER_ADDRESS_BURST: '1', RATE_LIMIT_READYZ_BURST: '1' });
    const peer = from('127.0.0.80');
    for (let i = 0; i < 4; i++) expect((await peer(`${server.url}/readyz`)).status).toBe(200);
  });
});
