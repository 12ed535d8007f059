// The server's launch (start.js runs it): WEB_CONCURRENCY worker processes (node:cluster) sharing
// one listening socket, or with WEB_CONCURRENCY=1 (the default) the server in this process.
// Workers share nothing in memory: the database is the only source of truth, which is what
// every cache (clients, APIs) and the provider host already assume.
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { loadConfig, type Config } from '../core/config/config.ts';
import { ConfigError } from '../core/errors.ts';
import { openRuntime } from '../core/db/runtime.ts';
import { main } from './main.ts';

/** Starts this process's part: a worker's server, or the primary (which may fork workers). */
export async function launch(launcher: string): Promise<void> {
  try {
    process.loadEnvFile();
  } catch {
    // .env is optional
  }
  if (cluster.isWorker) return main();
  let config: Config | undefined;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // main() reports it, in the same words, on the same exit code.
  }

  // libuv's thread pool runs argon2 and token signing. Its default of 4 threads per process keeps
  // up to 4 argon2 buffers (7 MiB each) and 4 malloc arenas alive; one thread per core the process
  // can use (at least 2) does the same work in less memory. Read by libuv when the pool starts,
  // which is after this line; workers inherit it. An explicit UV_THREADPOOL_SIZE wins.
  process.env.UV_THREADPOOL_SIZE ??= String(Math.max(2, Math.floor(availableParallelism() / (config?.workers ?? 1))));

  if (!config || config.workers === 1) return main();

  // One process starts the embedded PostgreSQL (when there is no DATABASE_URL) and migrates;
  // the workers only connect, and the primary stops the database after the last worker.
  const runtime = await openRuntime(config);
  await runtime.db.$disconnect();
  const env = { DATABASE_URL: runtime.databaseUrl, GATEHOUSE_WORKER: '1' };
  cluster.setupPrimary({ exec: launcher });
  let stopping = false;
  for (let i = 0; i < config.workers; i++) cluster.fork(env);
  cluster.on('exit', (worker, code) => {
    if (!stopping) {
      process.stderr.write(`gatehouse: worker ${worker.process.pid} exited with ${code}; starting another\n`);
      cluster.fork(env);
      return;
    }
    if (Object.keys(cluster.workers ?? {}).length === 0) void Promise.resolve(runtime.embedded?.stop()).finally(() => process.exit(0));
  });
  const stop = () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
