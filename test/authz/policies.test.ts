import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { createAuthz } from '../../apps/core/authz/authz.ts';
import { parsePolicies } from '../../apps/core/authz/cedar-engine.ts';
import { createDecisionPoint } from '../../apps/core/authz/decision-point.ts';
import { fixedPolicySet } from '../../apps/core/authz/live-policies.ts';
import { AppError } from '../../apps/core/errors.ts';
import { startAuthz, type AuthzFixture } from './authz-fixture.ts';

let f: AuthzFixture;
let ada: string;

const READ_ALL = '@id("read-all")\npermit(principal, action == Action::"read", resource);\n';
const WRITE_ALL = '@id("write-all")\npermit(principal, action == Action::"write", resource);\n';

beforeAll(async () => {
  f = await startAuthz();
  ada = await f.user('ada@example.test');
});
afterAll(() => f?.close());

const refusal = async (work: Promise<unknown>) => {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return { code: (error as AppError).code, message: (error as AppError).message, status: (error as AppError).status };
};

describe('parsing a policy file', () => {
  it('names each policy by its @id, else policy<position>, with its line, in file order', () => {
    const text = `// orders\n${READ_ALL}\npermit(principal, action, resource is order);\n\n@id("last")\nforbid(principal, action, resource) when { context.blocked };\n`;
    const parsed = parsePolicies(text);
    expect(parsed).toEqual({
      ok: true,
      policies: [
        { id: 'read-all', line: 2, text: READ_ALL.trimEnd() },
        { id: 'policy1', line: 5, text: 'permit(principal, action, resource is order);' },
        { id: 'last', line: 7, text: '@id("last")\nforbid(principal, action, resource) when { context.blocked };' },
      ],
    });
  });

  it('keeps positions right past ten policies (Cedar lists them sorted as strings)', async () => {
    const text = Array.from({ length: 12 }, (_, i) => `permit(principal, action == Action::"a${i}", resource);`).join('\n');
    const set = fixedPolicySet(undefined, text);
    expect(set.policies.map((p) => [p.id, p.line])).toEqual(Array.from({ length: 12 }, (_, i) => [`policy${i}`, i + 1]));
    const pdp = createDecisionPoint({ subjects: f.services.authz.subjects, policies: () => set });
    for (const i of [2, 10, 11]) {
      expect(await pdp.evaluate({ subject: { type: 'user', id: ada }, action: { name: `a${i}` }, resource: { type: 'thing', id: '1' } })).toEqual({
        decision: true,
        reasons: [`policy${i}`],
      });
    }
  });

  it('refuses a syntax error, a duplicate id and a template, naming the line', () => {
    expect(parsePolicies(`${READ_ALL}\npermit(principal, action resource);`)).toEqual({
      ok: false,
      line: 4,
      message: expect.stringMatching(/^unexpected token `resource`; expected/),
    });
    expect(parsePolicies(`${READ_ALL}\n${READ_ALL}`)).toEqual({ ok: false, line: 4, message: 'policy id read-all is already used by the policy on line 1' });
    expect(parsePolicies(`permit(principal, action, resource);\n@id("policy0")\nforbid(principal, action, resource);`)).toEqual({
      ok: false,
      line: 2,
      message: 'policy id policy0 is already used by the policy on line 1',
    });
    expect(parsePolicies(`${READ_ALL}permit(principal == ?principal, action, resource);`)).toEqual({
      ok: false,
      line: 3,
      message: 'templates (policies with ?principal or ?resource slots) are not supported',
    });
    expect(parsePolicies('permit(principal, action, resource) when { x };')).toEqual({
      ok: false,
      line: 1,
      message: expect.stringMatching(/^invalid variable: x/),
    });
  });

  it('counts lines after non-ASCII text right (Cedar reports byte offsets)', () => {
    expect(parsePolicies('// Überprüfung für Bestellungen é é é\npermit(principal, action, resource);\npermit(principal, action resource);')).toEqual({
      ok: false,
      line: 3,
      message: expect.any(String),
    });
  });
});

describe('without a policy set', () => {
  /** What a fresh process answers with `policies` in force, and whether it loaded Cedar's WebAssembly for it. */
  function freshProcess(policies: string) {
    const script = `
      import { createRequire } from 'node:module';
      import { fixedPolicySet } from './apps/core/authz/live-policies.ts';
      import { createInProcessEngine } from './apps/core/authz/policy-engine.ts';
      const set = fixedPolicySet(undefined, ${JSON.stringify(policies)});
      const uid = (type, id) => ({ type, id });
      const request = { principal: uid('User', 'u'), action: uid('Action', 'read'), resource: uid('order', '1'), context: {}, entities: [] };
      const [{ seconds, ...answer }] = await createInProcessEngine().decide(set, [request], undefined);
      const loaded = Object.keys(createRequire(import.meta.url).cache).some((file) => file.includes('cedar-wasm'));
      process.stdout.write(JSON.stringify({ answer, loaded }));`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: resolve(import.meta.dirname, '../..'), encoding: 'utf8' });
    expect(child.stderr).toBe('');
    return JSON.parse(child.stdout) as { answer: unknown; loaded: boolean };
  }

  it('denies every request without loading Cedar, which a process with policies loads', () => {
    expect(freshProcess('')).toEqual({ answer: { decision: false, reasons: [], errors: [] }, loaded: false });
    expect(freshProcess(READ_ALL)).toEqual({ answer: { decision: true, reasons: ['read-all'], errors: [] }, loaded: true });
  });
});

describe('policy store (versions, rollback)', () => {
  it('has no version at first, and the live set then denies everything', async () => {
    expect(await f.services.authz.policies.currentVersion()).toBeUndefined();
    expect(await refusal(f.services.authz.policies.show())).toEqual({ code: 'policy.not_found', message: 'no policy has been set yet', status: 404 });
  });

  it('stores each set as a new version, audited with its actor', async () => {
    const { policies } = f.services.authz;
    const first = await policies.set(READ_ALL);
    expect(first).toEqual({ version: 1, text: READ_ALL, policyIds: ['read-all'], restoredFrom: null, actor: 'cli', createdAt: expect.any(Date) });
    const second = await policies.set(`${READ_ALL}${WRITE_ALL}`);
    expect(second).toMatchObject({ version: 2, policyIds: ['read-all', 'write-all'] });
    expect(await policies.currentVersion()).toBe(2);
    const events = (await f.services.audit.tail()).filter((e) => e.type.startsWith('policy.'));
    expect(events.map((e) => [e.type, e.actor, e.details])).toEqual([
      ['policy.set', 'cli', { version: 1, policies: 1 }],
      ['policy.set', 'cli', { version: 2, policies: 2 }],
    ]);
  });

  it('refuses a file with a syntax error, storing nothing', async () => {
    const { policies } = f.services.authz;
    expect(await refusal(policies.set(`${READ_ALL}\npermit(principal, action resource);`))).toEqual({
      code: 'policy.invalid_input',
      message: expect.stringMatching(/^line 4: unexpected token `resource`/),
      status: 400,
    });
    expect(await policies.currentVersion()).toBe(2);
  });

  it('rolls back by storing the earlier text as a new version', async () => {
    const { policies } = f.services.authz;
    const restored = await policies.rollback(1);
    expect(restored).toEqual({ version: 3, text: READ_ALL, policyIds: ['read-all'], restoredFrom: 1, actor: 'cli', createdAt: expect.any(Date) });
    expect((await policies.show()).version).toBe(3);
    expect((await policies.versions()).map((v) => [v.version, v.restoredFrom, v.policyIds])).toEqual([
      [1, null, ['read-all']],
      [2, null, ['read-all', 'write-all']],
      [3, 1, ['read-all']],
    ]);
    expect(await refusal(policies.rollback(99))).toEqual({ code: 'policy.not_found', message: 'no policy version 99', status: 404 });
    expect((await f.services.audit.tail()).at(-1)).toMatchObject({ type: 'policy.rolled_back', actor: 'cli', details: { version: 3, restoredFrom: 1 } });
  });
});

describe('live policies on several instances', () => {
  const write = { subject: { type: 'user', id: '' }, action: { name: 'write' }, resource: { type: 'doc', id: 'd' } };

  it('every instance decides with a new version within one refresh interval, and keeps the last good one', async () => {
    const instance = () => createAuthz({ db: f.database.db, apis: f.services.apis, subjectCacheSeconds: 0, policyRefreshSeconds: 1 });
    const errors: unknown[] = [];
    const [a, b] = await Promise.all([instance().startDecisionPoint(), instance().startDecisionPoint({ onError: (e) => errors.push(e) })]);
    try {
      const asAda = { ...write, subject: { type: 'user', id: ada } };
      expect([a.live.current().version, b.live.current().version]).toEqual([3, 3]);
      expect((await b.evaluate(asAda)).decision).toBe(false);

      await f.services.authz.policies.set(`${READ_ALL}${WRITE_ALL}`);
      const version = await waitFor(() => b.live.current().version === 4 && a.live.current().version === 4);
      expect(version).toBe(true);
      expect(await b.evaluate(asAda)).toEqual({ decision: true, reasons: ['write-all'] });

      // A version that no longer parses (stored by hand here) must not take the live set down.
      await f.database.db.policyVersion.create({ data: { text: 'permit(', policyIds: [], actor: 'test' } });
      await waitFor(() => errors.length > 0);
      expect(b.live.current().version).toBe(4);
      expect(await b.evaluate(asAda)).toEqual({ decision: true, reasons: ['write-all'] });
    } finally {
      a.stop();
      b.stop();
    }
  });
});

/** Polls `check` every 50 ms for at most 5 s. */
async function waitFor(check: () => boolean): Promise<boolean> {
  for (const started = Date.now(); Date.now() - started < 5000; await new Promise((r) => setTimeout(r, 50))) if (check()) return true;
  return check();
}
