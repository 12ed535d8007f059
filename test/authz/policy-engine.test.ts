import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CedarRequest, CedarValueJson, TimedAnswer } from '../../apps/core/authz/cedar-engine.ts';
import { createInProcessEngine, createThreadEngine, type PolicyEngine } from '../../apps/core/authz/policy-engine.ts';

const POLICIES = `
@id("managers-update")
permit (principal in Group::"managers", action == Action::"update", resource is order);

@id("owners-read")
permit (principal, action == Action::"read", resource is order) when { resource.owner == principal };

@id("no-archived")
forbid (principal, action, resource is order) when { resource has archived && resource.archived };
`;

const uid = (type: string, id: string) => ({ type, id });
const ask = (user: string, groups: string[], action: string, resource: Record<string, CedarValueJson>): CedarRequest => ({
  principal: uid('User', user),
  action: uid('Action', action),
  resource: uid('order', '42'),
  context: { now: 1_800_000_000 },
  entities: [
    { uid: uid('User', user), attrs: {}, parents: groups.map((g) => uid('Group', g)) },
    { uid: uid('order', '42'), attrs: resource, parents: [] },
  ],
});

const managerUpdates = ask('ada', ['managers'], 'update', {});
const ownerReads = ask('bob', [], 'read', { owner: { __entity: uid('User', 'bob') } });
const strangerReads = ask('eve', [], 'read', { owner: { __entity: uid('User', 'bob') } });
const archivedUpdate = ask('ada', ['managers'], 'update', { archived: true });

/** What an engine answers, without the engine's timings. */
const decisions = (answers: (TimedAnswer | null)[]) => answers.map((a) => a && { decision: a.decision, reasons: a.reasons, errors: a.errors });

let thread: PolicyEngine;
beforeEach(() => {
  thread = createThreadEngine();
});
afterEach(() => thread.stop());

describe('the policy engine on its own thread', () => {
  it('answers as the engine on this thread does, in order, with a refused request left null', async () => {
    const here = createInProcessEngine();
    const requests = [managerUpdates, ownerReads, null, strangerReads, archivedUpdate];
    const expected = decisions(await here.decide(await here.load(1, POLICIES), requests, undefined));
    expect(decisions(await thread.decide(await thread.load(1, POLICIES), requests, undefined))).toEqual(expected);
    expect(expected).toEqual([
      { decision: true, reasons: ['managers-update'], errors: [] },
      { decision: true, reasons: ['owners-read'], errors: [] },
      null,
      { decision: false, reasons: [], errors: [] },
      { decision: false, reasons: ['no-archived'], errors: [] },
    ]);
  });

  it('stops after the first deny or the first permit when told to, counting a refused request as a deny', async () => {
    const set = await thread.load(1, POLICIES);
    expect(decisions(await thread.decide(set, [managerUpdates, strangerReads, ownerReads], 'deny')).map((a) => a?.decision)).toEqual([true, false]);
    expect(decisions(await thread.decide(set, [managerUpdates, null, ownerReads], 'deny'))).toEqual([expect.anything(), null]);
    expect(decisions(await thread.decide(set, [strangerReads, null, ownerReads, managerUpdates], 'permit')).map((a) => a?.decision)).toEqual([
      false,
      undefined,
      true,
    ]);
  });

  it('keeps each answer with its request when many are in flight and a new version loads among them', async () => {
    const v1 = await thread.load(1, POLICIES);
    const inFlight = Array.from({ length: 60 }, (_, i) => thread.decide(v1, [i % 2 ? ownerReads : strangerReads], undefined));
    const v2 = thread.load(2, `${POLICIES}\n@id("everyone-reads") permit (principal, action == Action::"read", resource);`);
    const later = thread.decide(await v2, [strangerReads], undefined);
    expect((await Promise.all(inFlight)).map(([a]) => a?.decision)).toEqual(Array.from({ length: 60 }, (_, i) => i % 2 === 1));
    expect(decisions(await later)).toEqual([{ decision: true, reasons: ['everyone-reads'], errors: [] }]);
  });

  it('fails what was waiting when the thread dies, refuses for a second, then starts a new one with the set', async () => {
    let clock = 1_000_000;
    const engine = createThreadEngine({ now: () => clock });
    try {
      const set = await engine.load(1, POLICIES);
      // Requests that are no list make the thread throw, as a crash inside it would.
      await expect(engine.decide(set, 42 as unknown as CedarRequest[], undefined)).rejects.toThrow('the policy engine thread stopped');
      await expect(engine.decide(set, [managerUpdates], undefined)).rejects.toThrow('restarts shortly');
      clock += 1000;
      expect(decisions(await engine.decide(set, [managerUpdates], undefined))).toEqual([{ decision: true, reasons: ['managers-update'], errors: [] }]);
    } finally {
      engine.stop();
    }
  });

  it('fails what was waiting when stopped, and every call after', async () => {
    const set = await thread.load(1, POLICIES);
    const waiting = thread.decide(set, [managerUpdates], undefined);
    thread.stop();
    await expect(waiting).rejects.toThrow('the policy engine thread stopped');
    await expect(thread.decide(set, [managerUpdates], undefined)).rejects.toThrow('the policy engine has stopped');
    await expect(thread.load(2, POLICIES)).rejects.toThrow('the policy engine has stopped');
  });

  it('refuses a version that no longer parses, naming it', async () => {
    await expect(thread.load(7, 'permit (principal, action, resource) when {')).rejects.toThrow(/^stored policy version 7 no longer parses: /);
  });

  it('answers the empty set (deny) without starting a thread', async () => {
    const empty = await thread.load(3, '');
    expect(decisions(await thread.decide(empty, [managerUpdates], undefined))).toEqual([{ decision: false, reasons: [], errors: [] }]);
  });

  it("starts under npm start's flags, leaves Cedar out of the main thread, and lets the process end once answered", () => {
    // A script file rather than `-e`: a thread inherits the process's flags, and refuses --input-type.
    const engineModule = pathToFileURL(resolve(import.meta.dirname, '../../apps/core/authz/policy-engine.ts')).href;
    const script = join(mkdtempSync(join(tmpdir(), 'gatehouse-engine-')), 'main-thread.mjs');
    writeFileSync(
      script,
      `
      import { createRequire } from 'node:module';
      import { createThreadEngine } from ${JSON.stringify(engineModule)};
      const engine = createThreadEngine();
      const set = await engine.load(1, 'permit (principal, action, resource);');
      const [answer] = await engine.decide(set, [{ principal: { type: 'User', id: 'u' }, action: { type: 'Action', id: 'read' }, resource: { type: 'order', id: '1' }, context: {}, entities: [] }]);
      const loaded = Object.keys(createRequire(import.meta.url).cache).some((file) => file.includes('cedar-wasm'));
      process.stdout.write(JSON.stringify({ decision: answer.decision, loaded }));`,
    );
    try {
      // Under `npm start`'s Node flags, which a thread must accept.
      const start = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../package.json'), 'utf8')).scripts.start as string;
      const flags = start.split(/\s+/).filter((word) => word.startsWith('--'));
      expect(flags.length).toBeGreaterThan(0);
      const child = spawnSync(process.execPath, [...flags, script], { encoding: 'utf8', timeout: 20_000 });
      expect(child.stderr).toBe('');
      expect(JSON.parse(child.stdout)).toEqual({ decision: true, loaded: false });
    } finally {
      rmSync(dirname(script), { recursive: true, force: true });
    }
  });
});
