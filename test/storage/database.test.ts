import pg from 'pg';
import { createDatabase, sqlOf, type Database } from '../../apps/core/db/database.ts';
import { createPayloadAdapter, statements } from '../../apps/server/provider/payload-adapter.ts';
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
    const adapter = createPayloadAdapter(db, 'Session');
    await adapter.upsert('merged-read', { jti: 'merged-read', uid: 'u-merged', kind: 'Session' }, 60);
    for (let i = 0; i < 12; i++) expect(await adapter.find('merged-read')).toMatchObject({ uid: 'u-merged' });
    const [plans] = await sqlOf(db).rows<{ generic: string; custom: string }>(
      "SELECT generic_plans::text AS generic, custom_plans::text AS custom FROM pg_prepared_statements WHERE statement LIKE '%id = ANY($2)%'",
      [],
    );
    expect(plans).toEqual({ generic: '12', custom: '0' });
  });

  it('regression: each hot read and delete finds its rows through an index in its generic plan, planned while the table is small (2,000 rows)', async () => {
    // 0.9 ms per call at 60 logins/s: a DELETE joined against unnest() of its pairs, planned
    // while the table was small, scanned the whole table on every execution after.
    const client = new pg.Client({ connectionString: t.url });
    await client.connect();
    try {
      await client.query(
        `INSERT INTO oidc_payloads (model, id, payload, uid, grant_id) SELECT 'Session', 'small-' || g, '{}', 'uid-' || g, 'grant-' || (g % 500) FROM generate_series(1, 2000) g`,
      );
      await client.query('ANALYZE oidc_payloads');
      const cases = [
        [statements.read, 'oidc_payloads_pkey'],
        [statements.destroy, 'oidc_payloads_pkey'],
        [statements.readByUid, 'oidc_payloads_model_uid_idx'],
        [statements.revokeByGrantId, 'oidc_payloads_model_grant_id_idx'],
      ];
      for (const [statement, index] of cases) {
        const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (GENERIC_PLAN, COSTS OFF) ${statement}`);
        const plan = rows.map((row) => row['QUERY PLAN']).join('\n');
        expect(plan).toMatch(new RegExp(`Index Scan (using|on) ${index}\\b`));
        expect(plan).not.toMatch(/Seq Scan/);
      }
    } finally {
      await client.end();
    }
  });

  it('index a grant, uid, account or user code only for the rows that have one', async () => {
    const tokens = createPayloadAdapter(t.db, 'ClientCredentials');
    for (let i = 0; i < 50; i++) await tokens.upsert(`cc-${i}`, { jti: `cc-${i}`, clientId: 'machine', kind: 'ClientCredentials' }, 60);
    const [row] = await sqlOf(t.db).rows<{ entries: string }>(
      `SELECT count(*)::text AS entries FROM oidc_payloads WHERE model = 'ClientCredentials' AND (grant_id IS NOT NULL OR uid IS NOT NULL OR account_id IS NOT NULL OR user_code IS NOT NULL)`,
      [],
    );
    expect(row.entries).toBe('0');
    const partial = await sqlOf(t.db).rows<{ name: string }>(
      "SELECT indexname AS name FROM pg_indexes WHERE tablename = 'oidc_payloads' AND indexdef LIKE '%WHERE (% IS NOT NULL)' ORDER BY 1",
      [],
    );
    expect(partial.map((p) => p.name)).toEqual([
      'oidc_payloads_account_id_idx',
      'oidc_payloads_model_grant_id_idx',
      'oidc_payloads_model_uid_idx',
      'oidc_payloads_model_user_code_idx',
    ]);
  });
});
