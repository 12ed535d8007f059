import { defineConfig } from 'prisma/config';

// Only `prisma generate` uses this file: migrations are applied by apps/core/migrations.ts with
// Prisma's WebAssembly schema engine, and the app connects through @prisma/adapter-pg.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
});
