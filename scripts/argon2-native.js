// Rebuilds the `argon2` addon from source for this machine's vector instructions at install time,
// when it can.
//
// The package ships one portable x86-64 prebuilt binary compiled for SSE2. The same reference
// code compiled for AVX2 verifies about twice as fast, and for AVX-512 (which the reference code's
// `opt.c` has its own path for) about a sixth faster again (see README, Performance). Password
// verification is most of a login's CPU, so on a machine with AVX2 `npm install` compiles the
// addon into node_modules/argon2/build/Release, with AVX-512 when the CPU has it, and
// node-gyp-build loads that build ahead of the prebuilt. Anything missing (no AVX2, no compiler,
// no node-gyp, no Node headers) keeps the prebuilt, with one line saying why.
// GATEHOUSE_ARGON2_BUILD=prebuilt skips the build: use it when node_modules is built on one
// machine and run on another whose CPU may lack what this one has.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { arch, platform } from 'node:os';
import { fileURLToPath } from 'node:url';

const addonDir = fileURLToPath(new URL('../node_modules/argon2/', import.meta.url));
const say = (message) => console.log(`argon2: ${message}`);

/** The widest vector extension the CPU has that the reference code uses, with its compiler flags. */
function vectorBuild() {
  const flags = readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:.*$/m)?.[0] ?? '';
  if (/\bavx512f\b/.test(flags)) return { name: 'AVX-512', cflags: '-mavx2 -mavx512f' };
  if (/\bavx2\b/.test(flags)) return { name: 'AVX2', cflags: '-mavx2' };
  return undefined;
}

function reasonToSkip(build) {
  if (process.env.GATEHOUSE_ARGON2_BUILD === 'prebuilt') return 'GATEHOUSE_ARGON2_BUILD=prebuilt';
  if (platform() !== 'linux' || arch() !== 'x64') return `no vector build for ${platform()}-${arch()}`;
  if (!build) return 'this CPU has no AVX2';
  if (!existsSync(addonDir)) return 'node_modules/argon2 is not installed';
  if (!process.env.npm_config_node_gyp) return 'node-gyp not found (run through npm install)';
  return undefined;
}

const build = platform() === 'linux' && arch() === 'x64' ? vectorBuild() : undefined;
const skip = reasonToSkip(build);
if (skip) {
  say(`keeping the portable prebuilt binary (${skip})`);
} else {
  const result = spawnSync(process.execPath, [process.env.npm_config_node_gyp, 'rebuild', '--release'], {
    cwd: addonDir,
    env: { ...process.env, CFLAGS: `${process.env.CFLAGS ?? ''} -O3 ${build.cflags}`.trim() },
    encoding: 'utf8',
  });
  if (result.status === 0) {
    say(`built from source with ${build.name}`);
  } else {
    // A half-built build/ would shadow the prebuilt: remove it.
    rmSync(`${addonDir}build`, { recursive: true, force: true });
    const last = `${result.stderr ?? ''}${result.error ?? ''}`.trim().split('\n').at(-1);
    say(`keeping the portable prebuilt binary (the ${build.name} build failed: ${last})`);
  }
}
