import type { Database } from '../db/database.ts';
import type { RouteRecord } from './route-table.ts';

export type NewRoute = Omit<RouteRecord, 'id' | 'createdAt'>;

const bumpVersion = (db: Pick<Database, '$executeRaw'>) =>
  db.$executeRaw`INSERT INTO edge_route_version (id, version, changed_at) VALUES (1, 1, now())
                 ON CONFLICT (id) DO UPDATE SET version = edge_route_version.version + 1, changed_at = now()`;

/** Edge routes in PostgreSQL: plain rows in, plain rows out. Every change bumps the version row in its own transaction. */
export function createRouteQueries(db: Database) {
  return {
    list: (): Promise<RouteRecord[]> => db.edgeRoute.findMany({ orderBy: [{ host: 'asc' }, { path: 'asc' }, { createdAt: 'asc' }] }),

    /** Changes with every add and remove; 0 before the first. */
    async version(): Promise<bigint> {
      return (await db.edgeRouteVersion.findUnique({ where: { id: 1 }, select: { version: true } }))?.version ?? 0n;
    },

    /**
     * Inserts the route unless `conflict` (given the host's routes, read under a lock every
     * writer takes) names a reason not to: two writers cannot both pass the check.
     */
    insert(
      route: NewRoute,
      conflict: (sameHost: RouteRecord[]) => string | undefined,
    ): Promise<{ ok: true; route: RouteRecord } | { ok: false; reason: string }> {
      return db.$transaction(async (tx) => {
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('gatehouse:edge_routes'))`;
        const reason = conflict(await tx.edgeRoute.findMany({ where: { host: route.host } }));
        if (reason) return { ok: false as const, reason };
        const created = await tx.edgeRoute.create({ data: route });
        await bumpVersion(tx);
        return { ok: true as const, route: created };
      });
    },

    remove(id: string): Promise<RouteRecord | undefined> {
      return db.$transaction(async (tx) => {
        const found = await tx.edgeRoute.findUnique({ where: { id } });
        if (!found) return undefined;
        await tx.edgeRoute.delete({ where: { id } });
        await bumpVersion(tx);
        return found;
      });
    },
  };
}

export type RouteQueries = ReturnType<typeof createRouteQueries>;
