// Node runs our TypeScript by stripping its types with a WebAssembly compiler (amaro) that, once
// loaded, stays in the process: about 17 MB of a server's memory. Node's module compile cache
// keeps each module as stripped and compiled the first time; a process whose modules all come
// from the cache never loads the compiler, and starts faster. Plain JavaScript, so it runs
// before any TypeScript does. scripts/compile-cache.js fills the cache at install.
import { enableCompileCache as enable } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Under node_modules/.cache, where tools keep their caches; refilled when a source changes. */
export const compileCacheDir = fileURLToPath(new URL('../../node_modules/.cache/gatehouse-compile', import.meta.url));

/** Turns the cache on for every module loaded after this call. A cache that cannot be written is skipped. */
export function enableCompileCache() {
  enable(compileCacheDir);
}
