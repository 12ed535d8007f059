// Rebuilds the `argon2` addon from source with AVX2 at install time, when this machine can.
//
// The package ships one portable x86-64 prebuilt binary compiled for SSE2, whose argon2id runs
// about twice as slow as the same reference code compiled for AVX2 (see README, Performance).
// Password verification is most of a login's CPU, so on an AVX2 machine `npm install` compiles
// the addon into node_modules/argon2/build/Release, which node-gyp-build loads ahead of the
// prebuilt. Anything missing (no AVX2, no compiler, no node-gyp, no Node headers) keeps the
// prebuilt, with one line saying why. GATEHOUSE_ARGON2_BUILD=prebuilt skips the build: use it
// when node_modules is built on one machine and run on another whose CPU may lack AVX2.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { arch, platform } from 'node:os';
import { fileURLToPath } from 'node:url';

const addonDir = fileURLToPath(new URL('../node_modules/argon2/', import.meta.url));
const say = (message) => console.log(`argon2: ${message}`);

function reasonToSkip() {
  if (process.env.GATEHOUSE_ARGON2_BUILD === 'prebuilt') return 'GATEHOUSE_ARGON2_BUILD=prebuilt';
  if (platform() !== 'linux' || arch() !== 'x64') return `no AVX2 build for ${platform()}-${arch()}`;
  if (!/\bavx2\b/.test(readFileSync('/proc/cpuinfo', 'utf8'))) return 'this CPU has no AVX2';
  if (!existsSync(addonDir)) return 'node_modules/argon2 is not installed';
  if (!process.env.npm_config_node_gyp) return 'node-gyp not found (run through npm install)';
  return undefined;
}

const skip = reasonToSkip();
if (skip) {
  say(`keeping the portable prebuilt binary (${skip})`);
} else {
  const result = spawnSync(process.execPath, [process.env.npm_config_node_gyp, 'rebuild', '--release'], {
    cwd: addonDir,
    env: { ...process.env, CFLAGS: `${process.env.CFLAGS ?? ''} -O3 -mavx2`.trim() },
    encoding: 'utf8',
  });
  if (result.status === 0) {
    say('built from source with AVX2');
  } else {
    // A half-built build/ would shadow the prebuilt: remove it.
    rmSync(`${addonDir}build`, { recursive: true, force: true });
    const last = `${result.stderr ?? ''}${result.error ?? ''}`.trim().split('\n').at(-1);
    say(`keeping the portable prebuilt binary (the AVX2 build failed: ${last})`);
  }
}
