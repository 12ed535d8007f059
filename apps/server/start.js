// `npm start`: turns on the compile cache (compile-cache.js) before any TypeScript is loaded,
// then launches the server (cluster.ts). node:cluster workers run this file too.
import { enableCompileCache } from './compile-cache.js';

enableCompileCache();
const { launch } = await import('./cluster.ts');
await launch(import.meta.filename);
