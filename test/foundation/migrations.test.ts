import { resolve } from 'node:path';
import { createMigrator } from '../../apps/core/migrations.ts';
import { projectRoot } from '../../apps/core/runtime.ts';
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

  it('are recorded like prisma migrate deploy, and applying again changes nothing', async () => {
    const rows = await t.db.$queryRaw<Array<{ migration_name: string; finished_at: Date | null }>>`
      SELECT migration_name, finished_at FROM _prisma_migrations`;
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.finished_at)).toBe(true);
    expect(await migrator().apply()).toEqual({ applied: [] });
  });
});
