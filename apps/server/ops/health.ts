import Router from '@koa/router';
import { isDatabaseReachable, type Database } from '../../core/db/database.ts';
import { paths } from '../paths.ts';

export function createHealthRouter(db: Database) {
  const router = new Router();
  router.get(paths.healthz, (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  router.get(paths.readyz, async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const ready = await isDatabaseReachable(db);
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ready' : 'unavailable', database: ready ? 'ok' : 'unreachable' };
  });
  return router;
}
