import { rm } from 'node:fs/promises';
import type { EmbeddedDatabase } from '../../apps/core/db/embedded-postgres.ts';

export default async function globalTeardown() {
  const embedded = (globalThis as Record<string, unknown>).__gatehousePg as (EmbeddedDatabase & { dataDir: string }) | undefined;
  if (!embedded) return;
  await embedded.stop();
  await rm(embedded.dataDir, { recursive: true, force: true });
}
