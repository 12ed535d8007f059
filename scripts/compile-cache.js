// Fills the server's module compile cache at install (apps/server/compile-cache.js explains
// why): loads every server module once, without running the server, and writes the cache.
// The entry modules only export functions, so loading them starts nothing. V8 keys the cache
// by its flags, so the loading runs under the Node flags of `npm start` (package.json).
import { spawnSync } from 'node:child_process';
import { flushCompileCache } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { enableCompileCache } from '../apps/server/compile-cache.js';

const root = fileURLToPath(new URL('..', import.meta.url));

if (!process.env.GATEHOUSE_FILL_COMPILE_CACHE) {
  const start = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.start.split(/\s+/);
  const flags = start.filter((word) => word.startsWith('--'));
  const run = spawnSync(process.execPath, [...flags, fileURLToPath(import.meta.url)], {
    stdio: 'inherit',
    env: { ...process.env, GATEHOUSE_FILL_COMPILE_CACHE: '1' },
  });
  process.exit(run.status ?? 1);
}

enableCompileCache();
// The command line and the example API run when loaded; the server does not load them.
const skip = new Set(['apps/cli/main.ts', 'apps/example-api/main.ts']);
const modules = readdirSync(join(root, 'apps'), { recursive: true, encoding: 'utf8' })
  .map((file) => join(root, 'apps', file))
  .filter((file) => file.endsWith('.ts') && !skip.has(relative(root, file)));
// Prisma Client loads its query compiler at its first query; load the same modules now.
const client = readFileSync(join(root, 'apps/core/generated/prisma/internal/class.ts'), 'utf8');
const lazy = [...client.matchAll(/import\("(@prisma\/client\/runtime\/[^"]+)"\)/g)].map((match) => match[1]);
try {
  for (const file of modules) await import(file);
  for (const specifier of lazy) await import(specifier);
  flushCompileCache();
} catch (error) {
  // A cold cache costs memory, not correctness: say so and let the install go on.
  process.stderr.write(`compile cache not filled: ${error.message}\n`);
}
