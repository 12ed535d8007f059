import { createDatabase, sqlOf, type Database } from '../../apps/core/database.ts';
import pg from 'pg';
import { createPrismaAdapter, mergedStatements } from '../../apps/server/prisma-adapter.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

let t: TestDatabase;
const opened: Database[] = [];
/** A client on the test database with one connection, so every statement shares one session. */
const oneConnection = (url = t.url) => {
  const db = createDatabase({ url, poolMax: 1 });
  opened.push(db);
  return db;
};
const setting = async (db: Database, name: 'plan_cache_mode' | 'work_mem') =>
  (await sqlOf(db).rows<{ value: string }>('SELECT current_setting($1) AS value', [name]))[0].value;

beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  for (const db of opened) await db.$disconnect();
  await t.drop();
});

describe('database connections', () => {
  it('plan each prepared statement once (plan_cache_mode force_generic_plan), on the plain-SQL and the Prisma Client path', async () => {
    const db = oneConnection();
    expect(await setting(db, 'plan_cache_mode')).toBe('force_generic_plan');
    expect(await db.$queryRaw<Array<{ value: string }>>`SELECT current_setting('plan_cache_mode') AS value`).toEqual([{ value: 'force_generic_plan' }]);
  });

  it('keep the startup options DATABASE_URL already carries', async () => {
    const url = new URL(t.url);
    url.searchParams.set('options', '-c work_mem=5MB');
    const db = oneConnection(url.href);
    expect(await setting(db, 'work_mem')).toBe('5MB');
    expect(await setting(db, 'plan_cache_mode')).toBe('force_generic_plan');
  });

  it('regression: a read merged across requests (id = ANY($2)) runs on one generic plan from its first execution, never a custom plan', async () => {
    const db = oneConnection();
    const adapter = createPrismaAdapter(db, 'Session');
    await adapter.upsert('merged-read', { jti: 'merged-read', uid: 'u-merged', kind: 'Session' }, 60);
    for (let i = 0; i < 12; i++) expect(await adapter.find('merged-read')).toMatchObject({ uid: 'u-merged' });
    const [plans] = await sqlOf(db).rows<{ generic: string; custom: string }>(
      "SELECT generic_plans::text AS generic, custom_plans::text AS custom FROM pg_prepared_statements WHERE statement LIKE '%id = ANY($2)%'",
      [],
    );
    expect(plans).toEqual({ generic: '12', custom: '0' });
  });

  it('regression: each merged read and delete finds its rows through an index in its generic plan, though planned on a small table', async () => {
    // 0.9 ms per call at 60 logins/s: a DELETE joined against unnest() of its pairs, planned
    // while the table was small, scanned the whole table on every execution after.
    const client = new pg.Client({ connectionString: t.url });
    await client.connect();
    try {
      await client.query(`INSERT INTO oidc_payloads (model, id, payload, uid) SELECT 'Session', 'small-' || g, '{}', 'uid-' || g FROM generate_series(1, 200) g`);
      await client.query('ANALYZE oidc_payloads');
      for (const statement of [mergedStatements.read, mergedStatements.readByUid, mergedStatements.destroy]) {
        const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (GENERIC_PLAN, COSTS OFF) ${statement}`);
        const plan = rows.map((row) => row['QUERY PLAN']).join('\n');
        expect(plan).toMatch(/Index Scan (using|on) oidc_payloads_(pkey|model_uid_idx)/);
        expect(plan).not.toMatch(/Seq Scan/);
      }
    } finally {
      await client.end();
    }
  });
});
