import { createDecisionPoint, type DecisionPoint } from '../../apps/core/authz/decision-point.ts';
import { fixedPolicySet } from '../../apps/core/authz/live-policies.ts';
import { createSubjectQueries } from '../../apps/core/authz/subject-queries.ts';
import { createSubjectReader } from '../../apps/core/authz/subject-reader.ts';
import { createDatabase } from '../../apps/core/db/database.ts';
import { DatabaseUnavailable } from '../../apps/core/errors.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { ORDERS, startAuthz, type AuthzFixture } from './authz-fixture.ts';

const POLICIES = `
@id("managers-read")
permit(principal in Group::"managers", action == Action::"read", resource is order);

@id("editors-update")
permit(principal in Role::"${ORDERS}#editor", action == Action::"update", resource is order);

@id("owner-update")
permit(principal, action == Action::"update", resource is order)
  when { resource has owner && resource.owner == principal };

@id("sales-report")
permit(principal, action == Action::"view", resource is report)
  when { principal.attributes.department == "sales" && principal.attributes.clearance >= 3 };

@id("office-hours")
permit(principal, action == Action::"archive", resource is order)
  when { context.now >= 1000 && context.now < 2000 };

@id("mfa-ping")
permit(principal, action == Action::"ping", resource)
  when { principal.properties has mfa && principal.properties.mfa == true };

@id("named-hello")
permit(principal, action == Action::"hello", resource)
  when { principal has email && principal.email like "*@example.test" && principal.name == "Ada" };

@id("reporters-export")
permit(principal in Role::"${ORDERS}#reporter", action == Action::"export", resource is order);

@id("frozen")
forbid(principal, action, resource is order) when { resource has frozen && resource.frozen };

@id("big-spender")
permit(principal, action == Action::"approve", resource is invoice)
  when { resource.amount.greaterThan(decimal("100.5")) && context.channel == "web" };
`;

let f: AuthzFixture;
let pdp: DecisionPoint;
let clock = 1_500_000;
const ids: Record<string, string> = {};

const request = (
  subject: string,
  action: string,
  resource: { type: string; id: string; properties?: Record<string, unknown> },
  extra: { subjectProperties?: Record<string, unknown>; context?: Record<string, unknown> } = {},
) => ({
  subject: { type: 'user', id: subject, properties: extra.subjectProperties },
  action: { name: action },
  resource,
  context: extra.context,
});
const order = (id = 'o-1', properties?: Record<string, unknown>) => ({ type: 'order', id, properties });

beforeAll(async () => {
  f = await startAuthz();
  const { groups, roles, attributes } = f.services.authz.directory;
  ids.ada = await f.user('ada@example.test', 'Ada');
  ids.bob = await f.user('bob@example.test', 'Bob');
  ids.carol = await f.user('carol@example.test');
  ids.reporting = await f.client('Reporting');
  await groups.create('managers');
  await groups.create('editors');
  await groups.addMember({ group: 'managers', user: ids.ada });
  await groups.addMember({ group: 'editors', user: ids.carol });
  await roles.create({ api: ORDERS, name: 'editor', scopes: 'orders:read orders:write' });
  await roles.create({ api: ORDERS, name: 'reporter', scopes: 'orders:read' });
  await roles.assign({ api: ORDERS, role: 'editor', user: ids.bob });
  await roles.assign({ api: ORDERS, role: 'editor', group: 'editors' });
  await roles.assign({ api: ORDERS, role: 'reporter', client: ids.reporting });
  await attributes.update({ user: ids.ada, set: { department: 'sales', clearance: 3 } });
  await attributes.update({ user: ids.bob, set: { department: 'sales', clearance: 2 } });
  const set = fixedPolicySet(1, POLICIES);
  pdp = createDecisionPoint({ subjects: f.services.authz.subjects, policies: () => set, now: () => clock });
});
afterAll(() => f?.close());

describe('Cedar decisions with what the directory knows', () => {
  it('permits a member of a group through principal in Group, and no one else', async () => {
    expect(await pdp.evaluate(request(ids.ada, 'read', order()))).toEqual({ decision: true, reasons: ['managers-read'] });
    expect(await pdp.evaluate(request(ids.bob, 'read', order()))).toEqual({ decision: false, reasons: [] });
  });

  it('permits a role held directly through principal in Role', async () => {
    expect(await pdp.evaluate(request(ids.bob, 'update', order()))).toEqual({ decision: true, reasons: ['editors-update'] });
  });

  it('permits a role held through a group through principal in Role', async () => {
    expect(await pdp.evaluate(request(ids.carol, 'update', order()))).toEqual({ decision: true, reasons: ['editors-update'] });
    expect(await pdp.evaluate(request(ids.ada, 'update', order()))).toEqual({ decision: false, reasons: [] });
  });

  it('permits a client by the role assigned to it', async () => {
    const asClient = { subject: { type: 'client', id: ids.reporting }, action: { name: 'export' }, resource: order() };
    expect(await pdp.evaluate(asClient)).toEqual({ decision: true, reasons: ['reporters-export'] });
  });

  it('compares resource.owner with the principal when the owner is sent as {type, id}', async () => {
    expect(await pdp.evaluate(request(ids.ada, 'update', order('o-2', { owner: { type: 'user', id: ids.ada } })))).toEqual({
      decision: true,
      reasons: ['owner-update'],
    });
    expect(await pdp.evaluate(request(ids.ada, 'update', order('o-2', { owner: { type: 'User', id: ids.ada } })))).toEqual({
      decision: true,
      reasons: ['owner-update'],
    });
    expect(await pdp.evaluate(request(ids.ada, 'update', order('o-3', { owner: { type: 'user', id: ids.bob } })))).toEqual({ decision: false, reasons: [] });
  });

  it('reads the stored attributes as principal.attributes', async () => {
    const report = { type: 'report', id: 'q3' };
    expect(await pdp.evaluate(request(ids.ada, 'view', report))).toEqual({ decision: true, reasons: ['sales-report'] });
    expect(await pdp.evaluate(request(ids.bob, 'view', report))).toEqual({ decision: false, reasons: [] });
  });

  it('gives email and name when known, and what the caller sent as principal.properties', async () => {
    expect(await pdp.evaluate(request(ids.ada, 'hello', { type: 'greeting', id: 'g' }))).toEqual({ decision: true, reasons: ['named-hello'] });
    expect(await pdp.evaluate(request(ids.bob, 'hello', { type: 'greeting', id: 'g' }))).toEqual({ decision: false, reasons: [] });
    expect(await pdp.evaluate(request(ids.bob, 'ping', { type: 'service', id: 's' }, { subjectProperties: { mfa: true } }))).toEqual({
      decision: true,
      reasons: ['mfa-ping'],
    });
    expect(await pdp.evaluate(request(ids.bob, 'ping', { type: 'service', id: 's' }, { subjectProperties: { mfa: false } }))).toEqual({
      decision: false,
      reasons: [],
    });
  });

  it("puts Gatehouse's clock in context.now, whatever the caller sent", async () => {
    clock = 1_500_000;
    expect(await pdp.evaluate(request(ids.carol, 'archive', order()))).toEqual({ decision: true, reasons: ['office-hours'] });
    clock = 2_500_000;
    expect(await pdp.evaluate(request(ids.carol, 'archive', order(), { context: { now: 1500 } }))).toEqual({ decision: false, reasons: [] });
    clock = 1_500_000;
  });

  it("passes the caller's context, and fractional numbers as Cedar decimals", async () => {
    const invoice = (amount: number) => ({ type: 'invoice', id: 'i-1', properties: { amount } });
    expect(await pdp.evaluate(request(ids.carol, 'approve', invoice(250.25), { context: { channel: 'web' } }))).toEqual({
      decision: true,
      reasons: ['big-spender'],
    });
    expect(await pdp.evaluate(request(ids.carol, 'approve', invoice(100.5), { context: { channel: 'web' } }))).toEqual({ decision: false, reasons: [] });
    expect(await pdp.evaluate(request(ids.carol, 'approve', invoice(250.75), { context: { channel: 'mail' } }))).toEqual({ decision: false, reasons: [] });
  });

  it('passes a whole number as a Long, even where a policy expects a decimal (JSON cannot tell 250 from 250.0)', async () => {
    const result = await pdp.evaluate(
      request(ids.carol, 'approve', { type: 'invoice', id: 'i-2', properties: { amount: 250 } }, { context: { channel: 'web' } }),
    );
    expect(result).toEqual({ decision: false, reasons: [], errors: ['big-spender: type error: expected decimal, got long'] });
  });

  it('names every policy that permitted, in file order', async () => {
    expect(await pdp.evaluate(request(ids.bob, 'update', order('o-7', { owner: { type: 'user', id: ids.bob } })))).toEqual({
      decision: true,
      reasons: ['editors-update', 'owner-update'],
    });
  });

  it('lets a forbid override every permit, and names it', async () => {
    expect(await pdp.evaluate(request(ids.ada, 'read', order('o-4', { frozen: true })))).toEqual({ decision: false, reasons: ['frozen'] });
  });

  it('reports a policy that fails on a missing attribute, which then does not apply', async () => {
    const result = await pdp.evaluate(request(ids.carol, 'view', { type: 'report', id: 'q3' }));
    expect(result).toEqual({ decision: false, reasons: [], errors: [expect.stringMatching(/^sales-report: .*department/)] });
  });
});

describe('Cedar decisions on what the directory does not know', () => {
  it('denies by default: no policy matches', async () => {
    expect(await pdp.evaluate(request(ids.ada, 'read', { type: 'invoice', id: 'i-1' }))).toEqual({ decision: false, reasons: [] });
  });

  it('denies an unknown action or resource type, without an error', async () => {
    expect(await pdp.evaluate(request(ids.ada, 'teleport', order()))).toEqual({ decision: false, reasons: [] });
    expect(await pdp.evaluate(request(ids.ada, 'read', { type: 'spaceship', id: 'x' }))).toEqual({ decision: false, reasons: [] });
  });

  it('evaluates an unknown user with only what was sent', async () => {
    const stranger = '00000000-0000-4000-8000-000000000001';
    expect(await pdp.evaluate(request(stranger, 'ping', { type: 'service', id: 's' }, { subjectProperties: { mfa: true } }))).toEqual({
      decision: true,
      reasons: ['mfa-ping'],
    });
    expect(await pdp.evaluate(request('not-even-a-uuid', 'read', order()))).toEqual({ decision: false, reasons: [] });
    expect(await pdp.evaluate({ subject: { type: 'client', id: 'no-such-client' }, action: { name: 'export' }, resource: order() })).toEqual({
      decision: false,
      reasons: [],
    });
  });
});

describe('requests Cedar cannot take', () => {
  const invalid = (problem: string) => ({ decision: false, reasons: [], errors: [problem], invalid: problem });

  it('denies a resource type that is not a Cedar name with the reason, instead of throwing', async () => {
    for (const type of ['or der', '1order', 'if', 'a::', '__cedar', '']) {
      const result = await pdp.evaluate(request(ids.ada, 'read', { type, id: 'o-1' }));
      expect(result).toEqual(
        invalid(
          `resource.type: ${JSON.stringify(type)} is not a Cedar entity type name (letters, digits and _, not starting with a digit; namespaces joined by ::)`,
        ),
      );
    }
  });

  it('denies values Cedar cannot hold with the path of the value', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ price: 0.12345 }, 'resource.properties.price: Cedar holds whole numbers up to 2^53 and decimals with at most 4 places'],
      [{ big: 2 ** 60 }, 'resource.properties.big: Cedar holds whole numbers up to 2^53 and decimals with at most 4 places'],
      [{ tags: ['a', null] }, 'resource.properties.tags.1: null is not a Cedar value'],
      [{ __entity: { type: 'User', id: ids.ada } }, 'resource.properties.__entity: keys starting with __ are reserved by Cedar'],
      [{ owner: { type: 'no way', id: 'x' } }, 'resource.properties.owner.type: "no way" is not a Cedar entity type name'],
      [
        { deep: JSON.parse(`${'{"a":'.repeat(40)}1${'}'.repeat(40)}`) },
        expect.stringMatching(/^resource\.properties\.deep(\.a)+: nested deeper than 16 levels$/) as unknown as string,
      ],
    ];
    for (const [properties, problem] of cases) {
      expect(await pdp.evaluate(request(ids.ada, 'read', order('o-5', properties)))).toEqual(invalid(problem));
    }
  });

  it('denies malformed requests with the reason', async () => {
    const bad = [
      [{ subject: { type: 'device', id: 'd' }, action: { name: 'read' }, resource: order() }, 'subject.type: expected user or client'],
      [{ subject: { type: 'user' }, action: { name: 'read' }, resource: order() }, 'subject: expected {type, id}'],
      [{ subject: { type: 'user', id: ids.ada }, action: {}, resource: order() }, 'action: expected {name}'],
      [{ subject: { type: 'user', id: ids.ada }, action: { name: 'read' }, resource: { type: 'order', id: 7 } }, 'resource: expected {type, id}'],
      [{ subject: { type: 'user', id: ids.ada }, action: { name: 'read' }, resource: order(), context: [1] }, 'context: expected an object'],
      [null, 'expected an object'],
    ] as const;
    for (const [body, problem] of bad) expect(await pdp.evaluate(body as never)).toEqual(invalid(problem));
  });

  it('leaves out a stored attribute Cedar cannot hold (written around the directory), keeping the others', async () => {
    const dave = await f.user('dave@example.test');
    await f.database.db.userAttributes.create({ data: { userId: dave, attributes: { ratio: 0.123456, team: 'blue' } } });
    const set = fixedPolicySet(2, 'permit(principal, action, resource) when { principal.attributes.team == "blue" && !(principal.attributes has ratio) };');
    const lenient = createDecisionPoint({ subjects: f.services.authz.subjects, policies: () => set });
    expect(await lenient.evaluate(request(dave, 'read', order()))).toEqual({ decision: true, reasons: ['policy0'] });
  });

  it('lets a null property out (Cedar has no null), so `has` is false', async () => {
    expect(await pdp.evaluate(request(ids.ada, 'update', order('o-6', { owner: null })))).toEqual({ decision: false, reasons: [] });
  });
});

describe('boxcars (AuthZEN evaluations)', () => {
  const permit = () => request(ids.ada, 'read', order());
  const deny = () => request(ids.bob, 'read', order());

  it('execute_all answers every evaluation in order', async () => {
    const results = await pdp.evaluateMany([permit(), deny(), permit()]);
    expect(results.map((r) => r.decision)).toEqual([true, false, true]);
  });

  it('deny_on_first_deny stops after the first deny', async () => {
    expect((await pdp.evaluateMany([permit(), deny(), permit()], 'deny_on_first_deny')).map((r) => r.decision)).toEqual([true, false]);
  });

  it('permit_on_first_permit stops after the first permit', async () => {
    expect((await pdp.evaluateMany([deny(), permit(), deny()], 'permit_on_first_permit')).map((r) => r.decision)).toEqual([false, true]);
  });

  it('answers a bad item of a boxcar as an invalid deny and goes on', async () => {
    const results = await pdp.evaluateMany([request(ids.ada, 'read', { type: 'or der', id: 'x' }), permit()]);
    expect(results.map((r) => [r.decision, r.invalid !== undefined])).toEqual([
      [false, true],
      [true, false],
    ]);
  });
});

describe('onDecision', () => {
  it("reports the engine's own time of each decision apart from the rest", async () => {
    const seen: Array<{ decision: boolean; invalid: boolean; engineSeconds: number }> = [];
    const set = fixedPolicySet(1, POLICIES);
    const timed = createDecisionPoint({ subjects: f.services.authz.subjects, policies: () => set, onDecision: (o) => seen.push(o) });
    await timed.evaluate(request(ids.ada, 'read', order()));
    await timed.evaluate(request(ids.ada, 'read', { type: 'or der', id: 'x' }));
    expect(seen).toEqual([
      { decision: true, invalid: false, engineSeconds: expect.any(Number) },
      { decision: false, invalid: true, engineSeconds: 0 },
    ]);
    expect(seen[0].engineSeconds).toBeGreaterThan(0);
    expect(seen[0].engineSeconds).toBeLessThan(0.5);
  });

  it('counts only the decisions a boxcar answered, not those after it stopped', async () => {
    const seen: Array<{ decision: boolean; invalid: boolean }> = [];
    const set = fixedPolicySet(1, POLICIES);
    const counted = createDecisionPoint({
      subjects: f.services.authz.subjects,
      policies: () => set,
      onDecision: ({ decision, invalid }) => seen.push({ decision, invalid }),
    });
    const answered = await counted.evaluateMany(
      [request(ids.carol, 'read', order()), request(ids.ada, 'read', { type: 'or der', id: 'x' })],
      'deny_on_first_deny',
    );
    expect(answered.map((e) => e.decision)).toEqual([false]);
    expect(seen).toEqual([{ decision: false, invalid: false }]);
  });
});

describe('a directory that cannot be read', () => {
  it('rejects a boxcar of several subjects with the outage, leaving no rejection unhandled (subject cache off)', async () => {
    const direct = new URL(f.database.url);
    const proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port) });
    const viaProxy = new URL(f.database.url);
    viaProxy.port = String(proxy.port);
    const db = createDatabase({ url: viaProxy.toString(), poolMax: 4 });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const set = fixedPolicySet(1, POLICIES);
      const uncached = createDecisionPoint({ subjects: createSubjectReader({ queries: createSubjectQueries(db), ttlSeconds: 0 }), policies: () => set });
      expect((await uncached.evaluate(request(ids.ada, 'read', order()))).decision).toBe(true);
      await proxy.cut();
      const boxcar = [ids.ada, ids.bob, ids.carol].map((id) => request(id, 'read', order()));
      await expect(uncached.evaluateMany(boxcar)).rejects.toBeInstanceOf(DatabaseUnavailable);
      await new Promise((r) => setTimeout(r, 200));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await db.$disconnect();
      await proxy.close();
    }
  });
});
