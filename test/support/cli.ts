import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Secrets } from '../../apps/core/config/config.ts';
import { projectRoot } from '../../apps/core/db/runtime.ts';

const cli = resolve(projectRoot, 'bin/gatehouse.js');
const node = resolve(projectRoot, 'node_modules/.bin/node'); // the project's Node 24, which runs .ts

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The real `gatehouse` command, spawned as an operator runs it, against `databaseUrl` with the
 * given secrets. It runs in a temporary directory, so no `.env` of the checkout is read.
 */
export async function createCli(databaseUrl: string, secrets: Secrets, extraEnv: Record<string, string> = {}) {
  const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-cli-'));
  const env = {
    PATH: process.env.PATH,
    NODE_ENV: 'test',
    DATABASE_URL: databaseUrl,
    DATA_DIR: dataDir,
    KEY_ENCRYPTION_KEY: secrets.keyEncryptionKey,
    COOKIE_KEYS: secrets.cookieKeys.join(','),
    CLIENT_SECRET_PEPPER: secrets.clientSecretPepper,
    ...extraEnv,
  };
  const spawnCli = (args: string[], { overrides = {}, input = '' }: { overrides?: Record<string, string>; input?: string }) =>
    new Promise<CliRun>((done, fail) => {
      const child = spawn(node, [cli, ...args], { cwd: dataDir, env: { ...env, ...overrides } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => (stdout += chunk));
      child.stderr.on('data', (chunk) => (stderr += chunk));
      child.stdin.on('error', () => {}); // a command that reads nothing may exit before taking it
      child.stdin.end(input);
      child.on('error', fail);
      child.on('close', (code) => done({ code, stdout, stderr }));
    });
  const runWith = (overrides: Record<string, string>, ...args: string[]) => spawnCli(args, { overrides });
  const run = (...args: string[]) => spawnCli(args, {});
  return {
    run,
    /** Runs with some variables changed (another DATABASE_URL, say). */
    runWith,
    /** Runs with `input` on standard input (a password for --password-stdin, say). */
    runWithInput: (input: string, ...args: string[]) => spawnCli(args, { input }),
    /**
     * Runs on a terminal (a pseudo-terminal from util-linux `script`), typing each reply once its
     * prompt has appeared. `output` is what the terminal showed, stdout and stderr together.
     */
    runOnTerminal: (replies: Array<[prompt: string, reply: string]>, ...args: string[]) =>
      new Promise<{ code: number | null; output: string }>((done, fail) => {
        const command = [node, cli, ...args].map((word) => `'${word.replaceAll("'", `'\\''`)}'`).join(' ');
        const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: dataDir, env });
        const pending = [...replies];
        let output = '';
        let seen = 0;
        child.stdout.on('data', (chunk) => {
          output += chunk;
          while (pending.length) {
            const at = output.indexOf(pending[0][0], seen);
            if (at === -1) break;
            const [prompt, reply] = pending.shift()!;
            seen = at + prompt.length;
            child.stdin.write(`${reply}\r`);
          }
        });
        // A prompt that never comes would leave the command waiting on the terminal for ever.
        const stuck = setTimeout(() => child.kill(), 20_000);
        child.stdin.on('error', () => {});
        child.on('error', fail);
        child.on('close', (code) => {
          clearTimeout(stuck);
          done({ code, output });
        });
      }),
    /** Runs with --json and parses stdout; the run must have succeeded with nothing on stderr. */
    async json(...args: string[]) {
      const result = await run(...args, '--json');
      if (result.code !== 0 || result.stderr) throw new Error(`gatehouse ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
      return JSON.parse(result.stdout);
    },
    close: () => rm(dataDir, { recursive: true, force: true }),
  };
}
