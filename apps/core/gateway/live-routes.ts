import type { RouteQueries } from './route-queries.ts';
import { createRouteTable, type RouteTable } from './route-table.ts';

/**
 * The route table every decision reads, from memory. Each instance reads the version row every
 * `refreshSeconds` and the routes only when it moved, so a route added or removed from the CLI
 * is in force everywhere within one interval. A failed read keeps the table it has.
 */
export async function createLiveRoutes({
  queries,
  refreshSeconds,
  onError = () => {},
  onLoad = () => {},
}: {
  queries: Pick<RouteQueries, 'version' | 'list'>;
  refreshSeconds: number;
  onError?: (error: unknown) => void;
  /** Told each time a new table is in force (how many routes, how many unreadable rows left out). */
  onLoad?: (loaded: { routes: number; skipped: number }) => void;
}) {
  let version: bigint | undefined;
  let table: RouteTable = createRouteTable([]);

  async function refresh(): Promise<boolean> {
    // The version is read first: a change committed between the two reads is read again next time.
    const current = await queries.version();
    if (current === version) return false;
    table = createRouteTable(await queries.list());
    version = current;
    onLoad({ routes: table.size, skipped: table.skipped });
    return true;
  }

  await refresh();
  const timer = setInterval(() => void refresh().catch(onError), refreshSeconds * 1000);
  timer.unref();

  return {
    get table(): RouteTable {
      return table;
    },
    refresh,
    stop: () => clearInterval(timer),
  };
}

export type LiveRoutes = Awaited<ReturnType<typeof createLiveRoutes>>;
