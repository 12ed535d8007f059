import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createMigrator } from '../../apps/core/db/migrations.ts';
import { projectRoot } from '../../apps/core/db/runtime.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t.drop());

describe('prisma/migrations', () => {
  const migrator = () =>
    createMigrator({
      databaseUrl: t.url,
      migrationsDir: resolve(projectRoot, 'prisma/migrations'),
      schemaPath: resolve(projectRoot, 'prisma/schema.prisma'),
    });

  it('agree with prisma/schema.prisma (run `npm run db:diff -- NAME` after changing the schema)', async () => {
    expect(await migrator().diff()).toBe('');
  });

  it('are recorded like prisma migrate deploy, every folder once and finished, and applying again changes nothing', async () => {
    const folders = readdirSync(resolve(projectRoot, 'prisma/migrations'), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
    expect(folders[0]).toBe('20261123020316_init');
    const rows = await t.db.$queryRaw<Array<{ migration_name: string; finished_at: Date | null }>>`
      SELECT migration_name, finished_at FROM _prisma_migrations ORDER BY migration_name`;
    expect(rows.map((r) => r.migration_name)).toEqual(folders);
    expect(rows.filter((r) => r.finished_at === null)).toEqual([]);
    expect(await migrator().apply()).toEqual({ applied: [] });
  });

  it('applies a migration added after the database was built, and only that one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-migrations-'));
    try {
      cpSync(resolve(projectRoot, 'prisma/migrations'), dir, { recursive: true });
      mkdirSync(join(dir, '99990101000000_later_change'));
      writeFileSync(join(dir, '99990101000000_later_change', 'migration.sql'), 'CREATE TABLE "later_change" ("id" INTEGER PRIMARY KEY);\n');
      const later = createMigrator({ databaseUrl: t.url, migrationsDir: dir, schemaPath: resolve(projectRoot, 'prisma/schema.prisma') });
      expect(await later.apply()).toEqual({ applied: ['99990101000000_later_change'] });
      expect(await t.db.$queryRaw`SELECT count(*)::int AS n FROM later_change`).toEqual([{ n: 0 }]);
      expect(await later.apply()).toEqual({ applied: [] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await t.db.$executeRaw`DROP TABLE IF EXISTS later_change`;
      await t.db.$executeRaw`DELETE FROM _prisma_migrations WHERE migration_name = '99990101000000_later_change'`;
    }
  });
});
