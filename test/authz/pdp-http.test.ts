import { scrapeMetrics, sample } from '../support/prometheus.ts';
import { clientCredentials, pdpCaller, startM2m, type M2mFixture } from '../support/m2m.ts';
import { expectNoServerErrorInEachTest, startTestServer } from '../support/server.ts';

const ORDERS = 'https://orders.example.test';
const POLICIES = `
@id("managers-update-orders")
permit (principal in Group::"managers", action == Action::"update", resource is order);

@id("owners-read-their-orders")
permit (principal, action == Action::"read", resource is order) when { resource.owner == principal };

@id("no-deleting-archived")
forbid (principal, action, resource is order) when { resource has archived && resource.archived };
`;

type Secret = { clientId: string; clientSecret: string };
let f: M2mFixture;
let caller: Secret;
let token: string;
let ada: string;
let bob: string;

const url = (path: string) => `${f.server.issuer}${path}`;
const evaluate = (body: unknown, options: { path?: string; bearer?: string; contentType?: string; raw?: string; headers?: Record<string, string> } = {}) =>
  fetch(url(options.path ?? '/access/v1/evaluation'), {
    method: 'POST',
    headers: { 'content-type': options.contentType ?? 'application/json', authorization: `Bearer ${options.bearer ?? token}`, ...options.headers },
    body: options.raw ?? JSON.stringify(body),
  });
const decision = async (body: unknown) => {
  const response = await evaluate(body);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};
const request = (subject: string, actionName: string, resource: Record<string, unknown>) => ({
  subject: { type: 'user', id: subject },
  action: { name: actionName },
  resource: { type: 'order', id: '42', ...resource },
});

beforeAll(async () => {
  f = await startM2m({ AUTHZ_CACHE_TTL: '0', POLICY_REFRESH_INTERVAL: '1', AUTHZ_AUDIT_DENIALS: '1' });
  const { authz, apis } = f.services;
  ada = (await f.database.db.user.create({ data: { email: 'ada@example.test', passwordHash: 'x' } })).id;
  bob = (await f.database.db.user.create({ data: { email: 'bob@example.test', passwordHash: 'x' } })).id;
  await authz.directory.groups.create('managers');
  await authz.directory.groups.addMember({ group: 'managers', user: ada });
  await authz.policies.set(POLICIES);
  ({ token, ...caller } = await pdpCaller(f));
  await apis.create({ identifier: ORDERS, scopes: 'orders:read' });
  // The server polls for the policy version every second (a real timer): ask until it has it.
  const deadline = Date.now() + 5000;
  while (!(await decision(request(ada, 'update', { id: 'policies-loaded' }))).body.decision && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
});
afterAll(() => f?.close());

describe('GET /.well-known/authzen-configuration', () => {
  it('names the issuer as the policy decision point and both endpoints', async () => {
    const response = await fetch(url('/.well-known/authzen-configuration'));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      policy_decision_point: f.server.issuer,
      access_evaluation_endpoint: `${f.server.issuer}/access/v1/evaluation`,
      access_evaluations_endpoint: `${f.server.issuer}/access/v1/evaluations`,
    });
  });
});

describe('POST /access/v1/evaluation (AuthZEN 1.0)', () => {
  it('permits a member of a group a policy names, and says which policy decided', async () => {
    expect(await decision(request(ada, 'update', {}))).toEqual({
      status: 200,
      body: { decision: true, context: { reason_admin: { en: 'permitted by managers-update-orders' } } },
    });
  });

  it('answers a denial with 200 {"decision": false}', async () => {
    expect(await decision(request(bob, 'update', {}))).toEqual({ status: 200, body: { decision: false } });
  });

  it('lets a resource property that names an entity match the principal (resource.owner == principal)', async () => {
    expect((await decision(request(bob, 'read', { properties: { owner: { type: 'user', id: bob } } }))).body.decision).toBe(true);
    expect((await decision(request(bob, 'read', { properties: { owner: { type: 'user', id: ada } } }))).body.decision).toBe(false);
  });

  it('lets a forbid win over a permit', async () => {
    expect((await decision(request(ada, 'update', { properties: { archived: true } }))).body).toEqual({
      decision: false,
      context: { reason_admin: { en: 'forbidden by no-deleting-archived' } },
    });
  });

  it('denies an unknown action or resource type and an unknown subject, without an error', async () => {
    expect((await decision(request(ada, 'launch', {}))).body.decision).toBe(false);
    expect((await decision({ ...request(ada, 'update', {}), resource: { type: 'rocket', id: '1' } })).body.decision).toBe(false);
    expect((await decision(request('00000000-0000-0000-0000-000000000000', 'update', {}))).body.decision).toBe(false);
  });

  it("echoes the caller's X-Request-ID", async () => {
    const response = await evaluate(request(ada, 'update', {}), { headers: { 'x-request-id': 'bfe9eb29-ab87-4ca3-be83-a1d5d8305716' } });
    expect(response.headers.get('x-request-id')).toBe('bfe9eb29-ab87-4ca3-be83-a1d5d8305716');
  });

  it('writes sampled denials to the audit trail with the caller, its address and its user agent', async () => {
    await evaluate(request(bob, 'update', { id: 'audited-order' }), { headers: { 'user-agent': 'orders-service/1.0' } });
    // The server writes audit events in batches (every 20 ms).
    const audited = async () =>
      (await f.services.audit.tail({ clientId: caller.clientId, limit: 1000 })).filter(
        (e) => e.type === 'authz.denied' && (e.details as { resource: { id: string } }).resource.id === 'audited-order',
      );
    let events = await audited();
    for (let i = 0; i < 20 && !events.length; i++) events = await new Promise((r) => setTimeout(r, 50)).then(audited);
    expect(events.map((e) => [e.actor, (e.details as { action: string }).action, e.ip, e.userAgent])).toEqual([
      [`client:${caller.clientId}`, 'update', '127.0.0.1', 'orders-service/1.0'],
    ]);
  });

  it('counts decisions by outcome in /metrics', async () => {
    const metrics = await scrapeMetrics(f.server.url);
    expect(sample(metrics, 'gatehouse_authz_decisions_total', { outcome: 'permit' })).toBeGreaterThan(0);
    expect(sample(metrics, 'gatehouse_authz_decisions_total', { outcome: 'deny' })).toBeGreaterThan(0);
  });
});

describe('POST /access/v1/evaluations (boxcar)', () => {
  const boxcar = (semantic?: string) => ({
    subject: { type: 'user', id: ada },
    action: { name: 'update' },
    ...(semantic && { options: { evaluations_semantic: semantic } }),
    evaluations: [
      { resource: { type: 'order', id: '1' } },
      { resource: { type: 'order', id: '2', properties: { archived: true } } },
      { action: { name: 'read' }, resource: { type: 'order', id: '3', properties: { owner: { type: 'user', id: ada } } } },
    ],
  });
  const decisions = async (body: unknown) => {
    const response = await evaluate(body, { path: '/access/v1/evaluations' });
    expect(response.status).toBe(200);
    return ((await response.json()) as { evaluations: Array<{ decision: boolean }> }).evaluations.map((e) => e.decision);
  };

  it('evaluates every request with the top-level values as defaults (execute_all)', async () => {
    expect(await decisions(boxcar())).toEqual([true, false, true]);
    expect(await decisions(boxcar('execute_all'))).toEqual([true, false, true]);
  });

  it('stops at the first denial (deny_on_first_deny) and at the first permit (permit_on_first_permit)', async () => {
    expect(await decisions(boxcar('deny_on_first_deny'))).toEqual([true, false]);
    expect(await decisions(boxcar('permit_on_first_permit'))).toEqual([true]);
  });

  it('answers one invalid evaluation with a denial carrying its error, and the others normally', async () => {
    const response = await evaluate(
      {
        subject: { type: 'user', id: ada },
        action: { name: 'update' },
        evaluations: [{ resource: { type: 'order', id: '1' } }, { resource: { type: 'not a cedar name', id: '2' } }],
      },
      { path: '/access/v1/evaluations' },
    );
    const body = (await response.json()) as { evaluations: Array<{ decision: boolean; context?: { error?: { status: number } } }> };
    expect(body.evaluations.map((e) => [e.decision, e.context?.error?.status])).toEqual([
      [true, undefined],
      [false, 400],
    ]);
  });

  it('behaves as a single evaluation without an evaluations array', async () => {
    expect(await decisions(request(ada, 'update', {}))).toEqual([true]);
  });
});

describe('policy changes', () => {
  it('reach every instance within POLICY_REFRESH_INTERVAL, and a rollback too', async () => {
    const second = await startTestServer({
      databaseUrl: f.database.url,
      secrets: f.server.secrets,
      env: { ISSUER: f.server.issuer, AUTHZ_CACHE_TTL: '0', POLICY_REFRESH_INTERVAL: '1' },
    });
    const at = (base: string) =>
      fetch(`${base}/access/v1/evaluation`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(request(bob, 'update', {})),
      }).then(async (r) => ((await r.json()) as { decision: boolean }).decision);
    const until = async (expected: boolean) => {
      const deadline = Date.now() + 5000;
      let seen: boolean[] = [];
      while (Date.now() < deadline) {
        seen = [await at(f.server.running.url), await at(second.running.url)];
        if (seen.every((d) => d === expected)) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      return seen;
    };
    try {
      const before = (await f.services.authz.policies.versions()).at(-1)!.version;
      await f.services.authz.policies.set(`${POLICIES}\n@id("everyone-updates")\npermit (principal, action == Action::"update", resource is order);`);
      expect(await until(true)).toEqual([true, true]);
      await f.services.authz.policies.rollback(before);
      expect(await until(false)).toEqual([false, false]);
    } finally {
      await second.close();
    }
  });
});

describe('who may ask', () => {
  it('answers a request without a token with 401 and a Bearer challenge', async () => {
    const response = await fetch(url('/access/v1/evaluation'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request(ada, 'update', {})),
    });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(`Bearer realm="${f.server.issuer}/access/v1"`);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('answers a token for another API with 401 invalid_token', async () => {
    const other = await f.serviceClient({ resources: [{ identifier: ORDERS }] });
    const issued = await clientCredentials(f, other, { resource: ORDERS });
    if (!issued.ok) throw new Error(issued.error);
    const response = await evaluate(request(ada, 'update', {}), { bearer: issued.token.access_token });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
  });

  it('answers a token without access:evaluate with 403 insufficient_scope', async () => {
    const weak = await f.serviceClient();
    await f.services.apis.grantClient({ clientId: weak.clientId, identifier: `${f.server.issuer}/access/v1`, scopes: [] });
    const issued = await clientCredentials(f, weak, { resource: `${f.server.issuer}/access/v1` });
    if (!issued.ok) throw new Error(issued.error);
    const response = await evaluate(request(ada, 'update', {}), { bearer: issued.token.access_token });
    expect(response.status).toBe(403);
    expect(response.headers.get('www-authenticate')).toMatch(/error="insufficient_scope", scope="access:evaluate"/);
  });

  it('answers a garbage token with 401', async () => {
    expect((await evaluate(request(ada, 'update', {}), { bearer: 'not-a-token' })).status).toBe(401);
  });
});

describe('bad input (never a 500)', () => {
  const big = 'x'.repeat(300 * 1024);
  // None of it is logged as a server error.
  expectNoServerErrorInEachTest(() => f.server);
  it.each([
    ['no subject', { action: { name: 'read' }, resource: { type: 'order', id: '1' } }, 400, /^subject: /],
    ['no action', { subject: { type: 'user', id: 'u' }, resource: { type: 'order', id: '1' } }, 400, /^action: /],
    ['no resource', { subject: { type: 'user', id: 'u' }, action: { name: 'read' } }, 400, /^resource: /],
    [
      'a subject id that is a number',
      { subject: { type: 'user', id: 7 }, action: { name: 'read' }, resource: { type: 'order', id: '1' } },
      400,
      /^subject\.id: expected a string/,
    ],
    ['context that is an array', { ...request('u', 'read', {}), context: [1] }, 400, /^context: expected an object/],
    ['a subject type other than user or client', { ...request('u', 'read', {}), subject: { type: 'robot', id: 'r' } }, 400, /subject\.type/],
    ['a resource type that is no Cedar identifier', { ...request('u', 'read', {}), resource: { type: 'order items', id: '1' } }, 400, /order items/],
  ])('answers %s with 400 and a clear problem', async (_what, body, status, detail) => {
    const response = await evaluate(body);
    expect(response.status).toBe(status);
    expect(((await response.json()) as { detail: string }).detail).toMatch(detail);
  });

  it('answers a body that is not JSON with 400, and another content type with 415', async () => {
    expect((await evaluate(undefined, { raw: '{"subject":' })).status).toBe(400);
    expect((await evaluate(undefined, { raw: 'subject=x', contentType: 'application/x-www-form-urlencoded' })).status).toBe(415);
  });

  it('answers a method other than POST with 405 and Allow: POST, and a decision with Cache-Control: no-store', async () => {
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const response = await fetch(url('/access/v1/evaluation'), { method, headers: { authorization: `Bearer ${token}` } });
      expect([method, response.status, response.headers.get('allow')]).toEqual([method, 405, 'POST']);
    }
    const answered = await evaluate(request(ada, 'update', {}), { path: '/access/v1/evaluation?ignored=1' });
    expect([answered.status, answered.headers.get('cache-control')]).toEqual([200, 'no-store']);
    const options = await fetch(url('/access/v1/evaluations'), { method: 'OPTIONS' });
    expect([options.status, options.headers.get('allow')]).toEqual([204, 'POST']);
  });

  it('takes the endpoints in any case and with a trailing slash, as routes are matched elsewhere', async () => {
    for (const path of ['/access/v1/evaluation/', '/ACCESS/v1/Evaluation', '/access/v1/evaluations/']) {
      const response = await evaluate(request(ada, 'update', {}), { path });
      expect([path, response.status]).toEqual([path, 200]);
    }
    expect((await evaluate(request(ada, 'update', {}), { path: '/access/v1/evaluationz' })).status).toBe(404);
  });

  it.each([
    ['a user id', { subject: { type: 'user', id: 'u\u0000x' }, action: { name: 'read' }, resource: { type: 'order', id: '1' } }],
    ['a client id', { subject: { type: 'client', id: 'c\u0000x' }, action: { name: 'read' }, resource: { type: 'order', id: '1' } }],
    ['a resource id and an action name', { subject: { type: 'user', id: 'u' }, action: { name: 'r\u0007ead' }, resource: { type: 'order', id: '1\u0000' } }],
  ])('denies a request with control characters in %s, without an error', async (_what, body) => {
    const answered = await decision(body);
    expect([answered.status, answered.body.decision]).toEqual([200, false]);
  });

  it('answers a body over 256 KiB with 413', async () => {
    expect((await evaluate({ ...request(ada, 'read', {}), context: { big } })).status).toBe(413);
  });

  it('answers a boxcar of 1,000 evaluations (past the limit of 100) with 400', async () => {
    const response = await evaluate(
      {
        subject: { type: 'user', id: ada },
        action: { name: 'read' },
        evaluations: Array.from({ length: 1000 }, (_, i) => ({ resource: { type: 'order', id: String(i) } })),
      },
      { path: '/access/v1/evaluations' },
    );
    expect(response.status).toBe(400);
    expect(((await response.json()) as { detail: string }).detail).toBe('evaluations: at most 100 in one request');
  });

  it('answers a boxcar whose evaluation lacks a part with no default for it with 400', async () => {
    const response = await evaluate({ action: { name: 'read' }, evaluations: [{ resource: { type: 'order', id: '1' } }] }, { path: '/access/v1/evaluations' });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { detail: string }).detail).toBe('evaluations.0.subject: missing, and no default subject given');
  });
});
