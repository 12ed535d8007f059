// Runs `prisma generate` at install time. The CLI insists on finding its native schema engine
// before generating, although generate never executes it, and the engine cannot be downloaded
// on machines without access to Prisma's binary host: point it at any existing file.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: '1', CHECKPOINT_DISABLE: '1' };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= fileURLToPath(import.meta.url);
const cli = fileURLToPath(new URL('../node_modules/prisma/build/index.js', import.meta.url));
const result = spawnSync(process.execPath, [cli, 'generate'], { stdio: 'inherit', env });
if (result.error) throw result.error;
process.exit(result.status ?? 1);
