import { createAuditQueries, type AuditQueries, type AuditRow } from '../../apps/core/audit/audit-queries.ts';
import { createTestDatabase, statementsDuring, type TestDatabase } from '../support/database.ts';

let t: TestDatabase;
let audit: AuditQueries;
beforeAll(async () => {
  t = await createTestDatabase();
  audit = createAuditQueries(t.db);
});
beforeEach(() => t.db.auditEvent.deleteMany());
afterAll(() => t.drop());

const T0 = new Date('2030-01-01T00:00:00.000Z');
const later = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const event = (at: Date, extra: Partial<AuditRow> = {}): AuditRow => ({ at, type: 'login.succeeded', ...extra });

describe('audit queries (audit_events contract)', () => {
  it('stores a batch with one statement and reads every column back, absent ones as undefined', async () => {
    const full: AuditRow = {
      at: T0,
      type: 'login.failed',
      actor: 'user:u1',
      userId: 'u1',
      clientId: 'c1',
      ip: '192.0.2.1',
      userAgent: 'jest',
      details: { reason: 'wrong_password', failures: 2 },
    };
    expect(await statementsDuring(t.db, () => audit.insert([full, event(later(1))]))).toBe(1);
    expect(await audit.latest({ limit: 10 })).toEqual([
      { id: expect.stringMatching(/^\d+$/), ...full },
      {
        id: expect.stringMatching(/^\d+$/),
        at: later(1),
        type: 'login.succeeded',
        actor: undefined,
        userId: undefined,
        clientId: undefined,
        ip: undefined,
        userAgent: undefined,
        details: undefined,
      },
    ]);
  });

  it('stores nothing for an empty batch', async () => {
    await audit.insert([]);
    expect(await t.db.auditEvent.count()).toBe(0);
  });

  it('stores details holding NUL, which jsonb cannot, with U+FFFD for it, and the rest of the batch with them', async () => {
    const sent = { resource: { id: 'o\u00001', properties: { 'k\u0000ey': 'v' } }, literal: '\\u0000 stays as typed' };
    await audit.insert([event(T0, { details: sent }), event(later(1), { actor: 'beside it' })]);
    const stored = await audit.latest({ limit: 10 });
    expect(stored.map((e) => [e.actor, e.details])).toEqual([
      [undefined, { resource: { id: 'o\ufffd1', properties: { 'k\ufffdey': 'v' } }, literal: '\\u0000 stays as typed' }],
      ['beside it', undefined],
    ]);
  });

  it('keeps the first 512 characters of a user agent', async () => {
    await audit.insert([event(T0, { userAgent: 'a'.repeat(600) })]);
    expect((await audit.latest({ limit: 1 }))[0].userAgent).toBe('a'.repeat(512));
  });

  it('reads the latest events oldest first, ties in time in the order they were stored', async () => {
    await audit.insert([event(later(2), { actor: 'third' }), event(later(1), { actor: 'first' })]);
    await audit.insert([event(later(1), { actor: 'second' }), event(later(3), { actor: 'fourth' })]);
    expect((await audit.latest({ limit: 10 })).map((e) => e.actor)).toEqual(['first', 'second', 'third', 'fourth']);
    expect((await audit.latest({ limit: 2 })).map((e) => e.actor)).toEqual(['third', 'fourth']);
  });

  it("reads only one user's or one client's events when asked", async () => {
    await audit.insert([
      event(later(1), { userId: 'u1', clientId: 'c1', actor: 'u1-c1' }),
      event(later(2), { userId: 'u2', clientId: 'c1', actor: 'u2-c1' }),
      event(later(3), { userId: 'u1', actor: 'u1' }),
    ]);
    expect((await audit.latest({ userId: 'u1', limit: 10 })).map((e) => e.actor)).toEqual(['u1-c1', 'u1']);
    expect((await audit.latest({ clientId: 'c1', limit: 10 })).map((e) => e.actor)).toEqual(['u1-c1', 'u2-c1']);
    expect((await audit.latest({ userId: 'u1', clientId: 'c1', limit: 10 })).map((e) => e.actor)).toEqual(['u1-c1']);
    expect(await audit.latest({ userId: 'nobody', limit: 10 })).toEqual([]);
  });

  it('deletes the events recorded before a cutoff, answering how many, and keeps those at or after it', async () => {
    await audit.insert([event(later(-1), { actor: 'old' }), event(T0, { actor: 'at' }), event(later(1), { actor: 'new' })]);
    expect(await audit.deleteBefore(T0)).toBe(1);
    expect((await audit.latest({ limit: 10 })).map((e) => e.actor)).toEqual(['at', 'new']);
    expect(await audit.deleteBefore(T0)).toBe(0);
  });
});
