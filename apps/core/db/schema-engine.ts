// Why this module exists: the `prisma` CLI cannot download its native schema engine on our
// machines, so migrations run on Prisma's WebAssembly build of the same engine
// (@prisma/schema-engine-wasm), which reaches PostgreSQL through @prisma/adapter-pg. This file
// keeps the rough edges of that pairing away from the rest of the code:
// - the package's entry point imports its `.wasm` file as an ES module, which Node 24 does only
//   with an ExperimentalWarning on every run and without letting us adjust the wasm's imports;
//   so we instantiate the wasm by hand with the package's own wasm-bindgen glue, once per process;
// - the engine (8.1) is newer than adapter-pg (7.10); `patchAdapter` and `migrationAdapter`
//   work around the three mismatches that break migrations, and clean up after the engine.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { PrismaPg } from '@prisma/adapter-pg';
import { ColumnTypeEnum, bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';
import type { SqlDriverAdapter, SqlMigrationAwareDriverAdapterFactory, SqlQuery } from '@prisma/driver-adapter-utils';
import type { SchemaEngine } from '@prisma/schema-engine-wasm';
import pg from 'pg';

// The project's libs (es2024, no DOM) leave WebAssembly untyped; this is the part used here.
declare const WebAssembly: {
  instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: { exports: Record<string, unknown> } }>;
  RuntimeError: ErrorConstructor;
};

type Glue = typeof import('@prisma/schema-engine-wasm') & { __wbg_set_wasm(exports: unknown): void };

let loading: Promise<Glue> | undefined;
let lastPanic = '';
let crashed: Error | undefined;

function loadGlue(): Promise<Glue> {
  loading ??= (async () => {
    const glueUrl = import.meta.resolve('@prisma/schema-engine-wasm/schema_engine_bg');
    const glue = (await import(glueUrl)) as Glue;
    const imports: Record<string, unknown> = { ...glue };
    for (const name of Object.keys(glue).filter((key) => key.startsWith('__wbg_setTimeout_'))) {
      // The engine arms a 10 s advisory-lock timeout and never clears it, which would keep
      // every CLI run alive for 10 s after its work is done.
      imports[name] = (fn: () => void, ms: number) => setTimeout(fn, ms).unref();
    }
    const bytes = await readFile(new URL('schema_engine_bg.wasm', glueUrl));
    // The glue is the wasm's only import module, under the name the bundler gave it.
    const { instance } = await WebAssembly.instantiate(bytes, { './schema_engine_bg.js': imports });
    glue.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
    return glue;
  })();
  return loading;
}

// Rust panics report their message here (Prisma's wasm modules share this global; the Prisma
// client installs its own), then trap with an uninformative "RuntimeError: unreachable".
const panicRegistry = globalThis as { PRISMA_WASM_PANIC_REGISTRY?: { set_message(message: string): void } };
panicRegistry.PRISMA_WASM_PANIC_REGISTRY ??= {
  set_message: (message) => {
    lastPanic = message;
  },
};

const PG_CHAR_OID = 18;
const PG_TEXT_OID = 25;

type PgInternals = {
  client: { query(text: string): Promise<unknown> };
  onError(error: unknown): never;
  performIO(query: SqlQuery): Promise<pg.QueryResult>;
};

function patchAdapter(adapter: SqlDriverAdapter): SqlDriverAdapter {
  const internals = adapter as unknown as PgInternals;
  // The engine reads catalog columns of type "char" (pg_constraint.contype, ...) and needs them
  // typed Character; adapter-pg 7.10 rejects that type outright. So the driver result passes
  // them off as text, and the adapter's answer is retyped; the two steps meet on the `rows`
  // array, which adapter-pg hands through unchanged (and which is unique per query).
  const charColumns = new WeakMap<unknown[], number[]>();
  const performIO = internals.performIO.bind(adapter);
  internals.performIO = async (query) => {
    const result = await performIO(query);
    const indexes = result.fields.flatMap((field, i) => (field.dataTypeID === PG_CHAR_OID ? [i] : []));
    for (const i of indexes) result.fields[i]!.dataTypeID = PG_TEXT_OID;
    if (indexes.length > 0) charColumns.set(result.rows, indexes);
    return result;
  };
  const queryRaw = adapter.queryRaw.bind(adapter);
  adapter.queryRaw = async (query) => {
    const result = await queryRaw(query);
    for (const i of charColumns.get(result.rows) ?? []) result.columnTypes[i] = ColumnTypeEnum.Character;
    return result;
  };
  // adapter-pg splits scripts on every ";" (breaking string literals and function bodies) and
  // runs the pieces one by one. One simple-protocol query keeps a migration atomic, as with
  // Prisma's native engine.
  adapter.executeScript = async (script) => {
    await internals.client.query(script).catch((error) => internals.onError(error));
  };
  return adapter;
}

/**
 * An adapter factory for the schema engine, plus `closeAll` for what the engine leaves open: it
 * never disposes the adapters it connects, not even when freed.
 *
 * Shadow databases are created next to the main one and dropped with FORCE. adapter-pg's own
 * connectToShadowDb is not used because it keeps the original connection string, which wins
 * over its `database` override, so "shadow" migrations would run on the main database.
 */
function migrationAdapter(databaseUrl: string) {
  const main = new PrismaPg({ connectionString: databaseUrl });
  const open = new Set<SqlDriverAdapter>();
  const track = (adapter: SqlDriverAdapter, cleanup?: () => Promise<void>) => {
    const dispose = adapter.dispose.bind(adapter);
    adapter.dispose = async () => {
      if (!open.delete(adapter)) return;
      try {
        await dispose();
      } finally {
        await cleanup?.();
      }
    };
    open.add(adapter);
    return patchAdapter(adapter);
  };
  const factory: SqlMigrationAwareDriverAdapterFactory = {
    provider: main.provider,
    adapterName: main.adapterName,
    connect: async () => track(await main.connect()),
    connectToShadowDb: async () => {
      const name = `gatehouse_shadow_${randomUUID().replaceAll('-', '')}`;
      await runOnServer(databaseUrl, `CREATE DATABASE "${name}"`);
      const url = new URL(databaseUrl);
      url.pathname = `/${name}`;
      const shadow = await new PrismaPg({ connectionString: url.href }).connect();
      return track(shadow, () => runOnServer(databaseUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
  const closeAll = async () => {
    await Promise.all([...open].map((adapter) => adapter.dispose()));
  };
  return { factory, closeAll };
}

async function runOnServer(databaseUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * Runs `fn` with a schema engine connected to `databaseUrl`, then frees the engine and closes
 * its connections. Closing matters: the engine takes Prisma's migration advisory lock on a
 * pooled connection and never releases it, so a lingering engine would block the next one.
 */
export async function withSchemaEngine<T>(databaseUrl: string, log: (message: string) => void, fn: (engine: SchemaEngine) => Promise<T>): Promise<T> {
  // After a panic the wasm memory is in an unknown state, and the wasm-bindgen glue cannot be
  // re-pointed at a fresh instance, so the engine stays unusable for the rest of the process.
  if (crashed) throw new Error(`${crashed.message} (earlier in this process)`, { cause: crashed });
  const { SchemaEngine } = await loadGlue();
  const { factory, closeAll } = migrationAdapter(databaseUrl);
  const engine = await SchemaEngine.new({ datamodels: undefined }, log, bindMigrationAwareSqlAdapterFactory(factory));
  try {
    return await fn(engine);
  } catch (error) {
    if (!(error instanceof WebAssembly.RuntimeError)) throw error;
    crashed = new Error(`Prisma schema engine crashed: ${lastPanic.replace(/\s+/g, ' ').trim() || error.message}`, {
      cause: error,
    });
    throw crashed;
  } finally {
    if (!crashed) engine.free();
    await closeAll();
  }
}
