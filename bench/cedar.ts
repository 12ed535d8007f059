// Micro-benchmark of the policy decision point without HTTP: the bare Cedar engine on a fixed
// request, where its time goes, and the full `evaluate` with the subject reader warm. Not part of
// `npm run bench` or the tests; run it alone on a quiet machine:
//
//   node bench/cedar.ts                 (starts an embedded PostgreSQL in a temporary folder)
//   DATABASE_URL=postgresql://... node bench/cedar.ts
//
// Environment: CEDAR_BENCH_ITERATIONS (default 20000) decisions per measurement.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import cedar from '@cedar-policy/cedar-wasm/nodejs';
import { authorize, parsePolicies, preparse } from '../apps/core/authz/cedar-engine.ts';
import { createDecisionPoint } from '../apps/core/authz/decision-point.ts';
import { cedarRequest, type EvaluationRequest } from '../apps/core/authz/entities.ts';
import { fixedPolicySet } from '../apps/core/authz/live-policies.ts';
import { loadConfig } from '../apps/core/config/config.ts';
import { openRuntime } from '../apps/core/db/runtime.ts';
import { createServices } from '../apps/core/services.ts';

const ITERATIONS = Number(process.env.CEDAR_BENCH_ITERATIONS ?? 20_000);
const API = 'https://orders.example.test';

/** Twenty policies of the kinds people write: groups, roles, ownership, attributes, context, forbids. */
const POLICIES = [
  `@id("managers-read") permit(principal in Group::"managers", action == Action::"read", resource is order);`,
  `@id("editors-update") permit(principal in Role::"${API}#editor", action == Action::"update", resource is order);`,
  `@id("owner-read") permit(principal, action == Action::"read", resource is order) when { resource has owner && resource.owner == principal };`,
  `@id("owner-update") permit(principal, action == Action::"update", resource is order) when { resource has owner && resource.owner == principal && !(resource has locked && resource.locked) };`,
  `@id("approvers-approve") permit(principal in Role::"${API}#approver", action == Action::"approve", resource is order) when { resource has amount && resource.amount < 10000 };`,
  `@id("finance-approve-big") permit(principal in Group::"finance", action == Action::"approve", resource is order) when { principal.attributes has clearance && principal.attributes.clearance >= 4 };`,
  `@id("sales-report") permit(principal in Group::"sales", action == Action::"view", resource is report) when { principal.attributes has department && principal.attributes.department == "sales" };`,
  `@id("auditors-view") permit(principal in Group::"auditors", action in [Action::"view", Action::"read"], resource);`,
  `@id("support-read") permit(principal in Role::"${API}#support", action == Action::"read", resource is ticket);`,
  `@id("ticket-owner") permit(principal, action in [Action::"read", Action::"update"], resource is ticket) when { resource has reporter && resource.reporter == principal };`,
  `@id("office-hours") permit(principal in Group::"staff", action == Action::"archive", resource is order) when { context has hour && context.hour >= 8 && context.hour < 18 };`,
  `@id("mfa-delete") permit(principal in Role::"${API}#admin", action == Action::"delete", resource) when { principal.properties has mfa && principal.properties.mfa == true };`,
  `@id("region-read") permit(principal, action == Action::"read", resource is region) when { principal.attributes has regions && principal.attributes.regions.contains(resource.code) };`,
  `@id("internal-mail") permit(principal, action == Action::"notify", resource) when { principal has email && principal.email like "*@example.test" };`,
  `@id("service-export") permit(principal is Client, action == Action::"export", resource is order);`,
  `@id("frozen") forbid(principal, action, resource is order) when { resource has frozen && resource.frozen };`,
  `@id("suspended") forbid(principal, action, resource) when { principal.attributes has suspended && principal.attributes.suspended };`,
  `@id("ip-block") forbid(principal, action == Action::"delete", resource) when { context has ip && context.ip == "203.0.113.9" };`,
  `@id("expired") forbid(principal, action, resource is order) when { resource has expiresAt && resource.expiresAt < context.now };`,
  `@id("readonly-weekend") forbid(principal, action == Action::"update", resource is report) when { context has weekend && context.weekend };`,
].join('\n');

function measure(label: string, work: () => unknown, iterations = ITERATIONS): number {
  for (let i = 0; i < Math.min(2000, iterations); i++) work();
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) work();
  const wallUs = Number(process.hrtime.bigint() - started) / 1000 / iterations;
  const used = process.cpuUsage(cpu);
  const cpuUs = (used.user + used.system) / iterations;
  console.log(`${label.padEnd(64)} ${wallUs.toFixed(1).padStart(7)} µs/op  (cpu ${cpuUs.toFixed(1)} µs)`);
  return wallUs;
}

async function measureAsync(label: string, work: () => Promise<unknown>, per = 1, iterations = ITERATIONS): Promise<number> {
  for (let i = 0; i < Math.min(2000, iterations); i++) await work();
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await work();
  const us = Number(process.hrtime.bigint() - started) / 1000 / iterations / per;
  console.log(`${label.padEnd(64)} ${us.toFixed(1).padStart(7)} µs/decision`);
  return us;
}

let dataDir: string | undefined;
if (!process.env.DATABASE_URL) {
  dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-cedar-bench-'));
  chmodSync(dataDir, 0o755);
}
const config = loadConfig({
  DATA_DIR: dataDir ?? '.data',
  EMBEDDED_PG_PORT: process.env.BENCH_PORT ?? '25410',
  DATABASE_URL: process.env.DATABASE_URL,
  LOG_LEVEL: 'silent',
});
const runtime = await openRuntime(config);
try {
  const services = createServices({ config, secrets: runtime.secrets, db: runtime.db, actor: 'bench' });
  const { directory, subjects } = services.authz;
  const suffix = Date.now().toString(36);
  const identifier = `${API}/${suffix}`;
  // Policies name the API by its identifier; this run's API has its own, so the bench can rerun on one database.
  const policies = POLICIES.replaceAll(API, identifier);
  await services.apis.create({ identifier, scopes: ['orders:read', 'orders:write'] });
  const user = await runtime.db.user.create({ data: { email: `bench-${suffix}@example.test`, name: 'Bench', passwordHash: 'not-a-hash' } });
  for (const group of ['managers', 'staff', 'sales']) {
    await directory.groups.create(`${group}-${suffix}`);
    await directory.groups.addMember({ group: `${group}-${suffix}`, user: user.id });
  }
  await directory.roles.create({ api: identifier, name: 'editor', scopes: 'orders:read orders:write' });
  await directory.roles.create({ api: identifier, name: 'approver', scopes: 'orders:read' });
  await directory.roles.assign({ api: identifier, role: 'editor', group: `managers-${suffix}` });
  await directory.roles.assign({ api: identifier, role: 'approver', user: user.id });
  await directory.attributes.update({ user: user.id, set: { department: 'sales', clearance: 3, regions: ['eu', 'us'] } });

  const parsed = parsePolicies(policies);
  if (!parsed.ok) throw new Error(parsed.message);
  const setId = preparse(parsed.policies);
  // Gatehouse never asks Cedar about an empty set; the engine's fixed cost is measured on one.
  const emptySetId = 'bench-empty';
  cedar.preparsePolicySet(emptySetId, { staticPolicies: {} });
  const request: EvaluationRequest = {
    subject: { type: 'user', id: user.id, properties: { mfa: true } },
    action: { name: 'update' },
    resource: { type: 'order', id: 'o-42', properties: { owner: { type: 'user', id: user.id }, amount: 120, locked: false } },
    context: { hour: 10, ip: '198.51.100.7' },
  };
  const subject = await subjects.read({ type: 'user', id: user.id });
  const call = cedarRequest(subject, request, Math.floor(Date.now() / 1000));
  const minimal = { principal: call.principal, action: call.action, resource: call.resource, context: {}, entities: [] };
  console.log(
    `policies: ${parsed.policies.length}; user in ${subject.groups.length} groups with ${subject.roles.length} roles; entities per request: ${call.entities.length} (${JSON.stringify(call).length} bytes of JSON)`,
  );
  console.log(`answer: ${JSON.stringify(authorize(setId, call))}\n`);

  console.log('The engine, on a fixed request:');
  const bare = measure('statefulIsAuthorized, 20 preparsed policies', () => cedar.statefulIsAuthorized({ ...call, preparsedPolicySetId: setId }));
  measure(
    'isAuthorized, the same 20 policies parsed on every call',
    () => cedar.isAuthorized({ ...call, policies: { staticPolicies: policies } }),
    Math.min(ITERATIONS, 5000),
  );
  console.log('\nWhere its time goes:');
  const stringify = measure('JSON.stringify of the call (the JavaScript side of the crossing)', () => JSON.stringify(call));
  const crossing = measure('minimal request (no entities, empty context), empty policy set', () =>
    cedar.statefulIsAuthorized({ ...minimal, preparsedPolicySetId: emptySetId }),
  );
  const withEntities = measure('the full request, empty policy set', () => cedar.statefulIsAuthorized({ ...call, preparsedPolicySetId: emptySetId }));
  console.log(`  => crossing into WebAssembly and back (fixed):      ${crossing.toFixed(1)} µs`);
  console.log(
    `  => serialising and parsing this request's entities: ${(withEntities - crossing).toFixed(1)} µs (of which JSON.stringify ${stringify.toFixed(1)} µs)`,
  );
  console.log(`  => evaluating the 20 policies:                      ${(bare - withEntities).toFixed(1)} µs`);

  console.log('\nGatehouse around the engine (subject reader warm):');
  const set = fixedPolicySet(undefined, policies);
  const pdp = createDecisionPoint({ subjects, policies: () => set });
  measure('cedarRequest: building the Cedar request from the AuthZEN one', () => cedarRequest(subject, request, 1));
  const full = await measureAsync('evaluate (one decision)', () => pdp.evaluate(request));
  const boxcar = Array.from({ length: 20 }, (_, i) => ({ ...request, resource: { ...request.resource, id: `o-${i}` } }));
  await measureAsync('evaluateMany, boxcars of 20', () => pdp.evaluateMany(boxcar), 20, Math.ceil(ITERATIONS / 20));
  console.log(`  => Gatehouse's own overhead per decision: ${(full - bare).toFixed(1)} µs over the engine's ${bare.toFixed(1)} µs`);
} finally {
  await runtime.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}
