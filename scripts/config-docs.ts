// Writes `.env.example` and the README's configuration table (between its config markers) from
// the variables declared in apps/core/config/env-schema.ts.
//
//   npm run docs:config
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderEnvExample, withConfigTable } from '../apps/core/config/config-docs.ts';

const root = path.resolve(import.meta.dirname, '..');

async function write(file: string, render: (current: string) => string): Promise<void> {
  const target = path.join(root, file);
  const current = await readFile(target, 'utf8');
  const next = render(current);
  if (next === current) return console.log(`${file}: up to date`);
  await writeFile(target, next);
  console.log(`${file}: written`);
}

await write('.env.example', renderEnvExample);
await write('README.md', withConfigTable);
