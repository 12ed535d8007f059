import { useFleet } from './fleet.ts';
import { createServices, type Services } from '../../apps/core/services.ts';
import { createCli } from '../support/cli.ts';
import type { Fetch } from '../support/local-address.ts';
import type { TestServer } from '../support/server.ts';
import { sample, scrapeMetrics } from '../support/prometheus.ts';

// Issue 16 item 2: failed client authentications are counted per address and slowed with a
// rate and a burst; a client's own budget is spent only once it has authenticated.

const fleet = useFleet();
const { secrets, from } = fleet;

async function start(env: Record<string, string> = {}) {
  const server = await fleet.start(env);
  return { server, services: createServices({ config: server.config, secrets, db: server.db }) };
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

interface Answer {
  status: number;
  retryAfter: string | null;
  body: { error?: string; error_description?: string; access_token?: string };
}

async function post(send: Fetch, url: string, form: Record<string, string>, authorization?: string): Promise<Answer> {
  const response = await send(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...(authorization && { authorization }) },
    body: new URLSearchParams(form),
  });
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as Answer['body'] };
}

const tokenRequest = (send: Fetch, server: TestServer, clientId: string, secret: string) =>
  post(send, `${server.url}/token`, { grant_type: 'client_credentials' }, basic(clientId, secret));

/** `count` calls of `call`, `concurrency` at a time; answers in the order the calls were made. */
async function burst<T>(count: number, concurrency: number, call: (i: number) => Promise<T>): Promise<T[]> {
  const answers: T[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      answers[i] = await call(i);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return answers;
}

const serviceClient = async (services: Services, name = 'service') => {
  const { clientId, clientSecret } = await services.clients.create({ name, grantTypes: ['client_credentials'] });
  return { clientId, clientSecret: clientSecret! };
};

describe('failed client authentication, with the default protection', () => {
  let s: Awaited<ReturnType<typeof start>>;
  beforeAll(async () => {
    s = await start();
  });

  it('answers 429 with Retry-After within the first hundred of 400 wrong-secret token requests from one address, and not another address', async () => {
    const client = await serviceClient(s.services);
    const attacker = from('127.0.0.12');
    const answers = await burst(400, 8, () => tokenRequest(attacker, s.server, client.clientId, 'not-the-secret'));
    const first429 = answers.findIndex((a) => a.status === 429);
    expect(first429).toBeGreaterThanOrEqual(50);
    expect(first429).toBeLessThan(100);
    expect(answers.filter((a) => a.status === 401).length).toBeLessThan(100);
    expect(answers.every((a) => a.status === 401 || a.status === 429)).toBe(true);
    const refused = answers[first429];
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(refused.body).toEqual({ error: 'rate_limited', error_description: expect.stringMatching(/^too many requests; retry after \d+ seconds?$/) });
    // Refused before anything was checked: the right secret from that address waits too.
    expect((await tokenRequest(attacker, s.server, client.clientId, client.clientSecret)).status).toBe(429);

    const colleague = from('127.0.0.13');
    expect((await tokenRequest(colleague, s.server, client.clientId, 'not-the-secret')).status).toBe(401);
    expect((await tokenRequest(colleague, s.server, client.clientId, client.clientSecret)).status).toBe(200);
    expect(sample(await scrapeMetrics(s.server.url), 'gatehouse_rate_limit_rejections_total', { rule: 'client_auth_failures' })).toBeGreaterThan(250);
  });

  it('still serves a client from its own address after 1,200 wrong-secret requests naming it from another (regression: the per-client count was spent before authentication)', async () => {
    const victim = await serviceClient(s.services, 'victim');
    const attacker = from('127.0.0.14');
    const answers = await burst(1200, 16, () => tokenRequest(attacker, s.server, victim.clientId, 'guess'));

    const own = await tokenRequest(from('127.0.0.2'), s.server, victim.clientId, victim.clientSecret);
    expect(own.status).toBe(200);
    expect(typeof own.body.access_token).toBe('string');
    // The attacker's own address is what was slowed.
    expect(answers.filter((a) => a.status === 429).length).toBeGreaterThan(1000);
  });
});

describe('failed client authentication at each endpoint, with a small budget', () => {
  let s: Awaited<ReturnType<typeof start>>;
  let client: { clientId: string; clientSecret: string };
  beforeAll(async () => {
    s = await start({ RATE_LIMIT_CLIENT_AUTH_FAILURES: '1/s', RATE_LIMIT_CLIENT_AUTH_FAILURES_BURST: '2' });
    const created = await s.services.clients.create({ name: 'web', grantTypes: ['authorization_code'], redirectUris: ['http://127.0.0.1:9/cb'] });
    client = { clientId: created.clientId, clientSecret: created.clientSecret! };
  });

  it.each([
    ['/token', '127.0.0.20', { grant_type: 'client_credentials' }],
    ['/token/introspection', '127.0.0.21', { token: 'some-token' }],
    ['/token/revocation', '127.0.0.22', { token: 'some-token' }],
    ['/request', '127.0.0.23', { response_type: 'code', redirect_uri: 'http://127.0.0.1:9/cb', scope: 'openid' }],
  ])('counts a wrong secret at %s, and answers 429 "retry after 1 second" once the burst is spent', async (path, address, form) => {
    const send = from(address);
    const call = () => post(send, `${s.server.url}${path}`, form, basic(client.clientId, 'wrong'));
    for (let i = 0; i < 2; i++) expect((await call()).body.error).toBe('invalid_client');
    expect(await call()).toEqual({
      status: 429,
      retryAfter: '1',
      body: { error: 'rate_limited', error_description: 'too many requests; retry after 1 second' },
    });
  });

  it('counts client_secret_post and invented client ids alike', async () => {
    const send = from('127.0.0.24');
    const call = (clientId: string) => post(send, `${s.server.url}/token`, { grant_type: 'client_credentials', client_id: clientId, client_secret: 'wrong' });
    expect((await call('invented-one')).status).toBe(401);
    expect((await call(client.clientId)).status).toBe(401);
    expect((await call('invented-two')).status).toBe(429);
  });
});

describe('keys that were never seen', () => {
  it('writes nothing to the shared buckets for 1,000 token requests with invented client ids (regression: one row and one awaited upsert per id)', async () => {
    const { server } = await start({
      RATE_LIMIT_CLIENT_AUTH_FAILURES_BURST: '100000',
      RATE_LIMIT_PER_ADDRESS_BURST: '100000',
      RATE_LIMIT_SYNC_MS: '20',
    });
    const send = from('127.0.0.30');
    const answers = await burst(1000, 16, (i) =>
      post(send, `${server.url}/token`, { grant_type: 'client_credentials', client_id: `invented-${i}`, client_secret: 'x' }),
    );
    expect(new Set(answers.map((a) => `${a.status} ${a.body.error}`))).toEqual(new Set(['401 invalid_client']));
    await new Promise((resolve) => setTimeout(resolve, 200)); // ten sync intervals
    // Not the ids, and not the address either: nothing came under pressure.
    const rows = await server.db.rateLimitBucket.findMany();
    expect(rows.filter((row) => row.key.includes('invented') || row.key.includes(':127.0.0.30@'))).toEqual([]);
  });
});

describe('per-client quota', () => {
  let s: Awaited<ReturnType<typeof start>>;
  beforeAll(async () => {
    s = await start({ RATE_LIMIT_PER_CLIENT: '1/s', RATE_LIMIT_PER_CLIENT_BURST: '50', CLIENT_CACHE_TTL: '0' });
  });

  it('refuses a client past its burst, until `gatehouse client update --rate-limit` raises its quota', async () => {
    const client = await serviceClient(s.services, 'heavy');
    const send = from('127.0.0.40');
    const before = await burst(60, 1, () => tokenRequest(send, s.server, client.clientId, client.clientSecret));
    const allowed = before.filter((a) => a.status === 200).length;
    expect(allowed).toBeGreaterThanOrEqual(50);
    expect(allowed).toBeLessThanOrEqual(52);
    const refused = before.find((a) => a.status === 429)!;
    expect(refused.body).toEqual({ error: 'rate_limited', error_description: expect.stringMatching(/^too many requests; retry after 1 second$/) });
    expect(refused.retryAfter).toBe('1');
    expect(sample(await scrapeMetrics(s.server.url), 'gatehouse_rate_limit_rejections_total', { rule: 'client' })).toBe(60 - allowed);

    const cli = await createCli(fleet.database.url, secrets);
    try {
      const updated = await cli.run('client', 'update', client.clientId, '--rate-limit', '500/s', '--rate-limit-burst', '200');
      expect(updated).toMatchObject({ code: 0, stderr: '' });
      expect(updated.stdout).toBe(`client ${client.clientId}: rate limit 500/s, burst 200\n`);
      const list = JSON.parse((await cli.run('client', 'list', '--json')).stdout) as Array<{
        client_id: string;
        rate_limit: string | null;
        rate_limit_burst: number | null;
      }>;
      expect(list.find((c) => c.client_id === client.clientId)).toMatchObject({ rate_limit: '500/s', rate_limit_burst: 200 });
      expect((await cli.run('client', 'list')).stdout).toMatch(new RegExp(`${client.clientId}.*500/s, burst 200`));
    } finally {
      await cli.close();
    }

    const after = await burst(60, 1, () => tokenRequest(send, s.server, client.clientId, client.clientSecret));
    expect(after.map((a) => a.status)).toEqual(new Array(60).fill(200));
    const changed = await s.services.audit.tail({ clientId: client.clientId });
    expect(changed.find((e) => e.type === 'client.changed')).toMatchObject({ actor: 'cli', details: { rateLimit: '500/s', rateLimitBurst: 200 } });
  });

  it('counts a client wherever it calls from', async () => {
    const client = await serviceClient(s.services, 'roaming');
    const answers = await burst(60, 4, (i) => tokenRequest(from(`127.0.1.${(i % 4) + 1}`), s.server, client.clientId, client.clientSecret));
    expect(answers.filter((a) => a.status === 429).length).toBeGreaterThanOrEqual(6);
  });

  it('gives a public client no budget of its own, since anyone may present its id', async () => {
    const spa = await s.services.clients.create({
      name: 'spa',
      grantTypes: ['authorization_code'],
      authMethod: 'none',
      redirectUris: ['http://127.0.0.1:9/cb'],
    });
    const send = from('127.0.0.41');
    const answers = await burst(60, 1, () =>
      post(send, `${s.server.url}/token`, {
        grant_type: 'authorization_code',
        client_id: spa.clientId,
        code: 'made-up',
        redirect_uri: 'http://127.0.0.1:9/cb',
        code_verifier: 'v'.repeat(43),
      }),
    );
    expect(new Set(answers.map((a) => `${a.status} ${a.body.error}`))).toEqual(new Set(['400 invalid_grant']));
  });

  it('refuses a quota the CLI cannot read, naming the option', async () => {
    const client = await serviceClient(s.services, 'typo');
    const cli = await createCli(fleet.database.url, secrets);
    try {
      expect(await cli.run('client', 'update', client.clientId, '--rate-limit', '500 per second')).toMatchObject({
        code: 2,
        stderr: expect.stringContaining('--rate-limit: expected a rate such as 50/s, 6/m or 100/h'),
      });
      expect((await cli.run('client', 'update', client.clientId)).stderr).toContain('nothing to change');
      expect((await cli.run('client', 'update', client.clientId, '--rate-limit', 'default', '--json')).stdout).toContain('"rate_limit": null');
    } finally {
      await cli.close();
    }
  });
});
