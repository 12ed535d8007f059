import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import Router from '@koa/router';
import { Eta } from 'eta';
import type { Context } from 'koa';
import { paths } from './paths.ts';
import { setPageSecurityHeaders } from './http/page-security.ts';

export const viewsDir = fileURLToPath(new URL('../../views/', import.meta.url));

export interface Views {
  /** Renders `views/<name>.eta` as the response, with the security headers every page carries. */
  render(ctx: Context, name: string, data: Record<string, unknown>, status?: number): void;
  /** The same page as an HTML string, for oidc-provider's page hooks. */
  html(name: string, data: Record<string, unknown>): string;
}

export function createViews(dir = viewsDir): Views {
  const eta = new Eta({ views: dir, cache: true, autoEscape: true });
  const html = (name: string, data: Record<string, unknown>) => eta.render(name, { stylesheet: paths.stylesheet, ...data });
  return {
    html,
    render(ctx, name, data, status = 200) {
      if (!ctx.response.get('Content-Security-Policy').includes('form-action')) setPageSecurityHeaders(ctx);
      ctx.status = status;
      ctx.type = 'html';
      ctx.body = html(name, data);
    },
  };
}

/** Serves the one stylesheet the pages use (no CDN, no inline styles). */
export function createStaticRouter(dir = viewsDir) {
  const router = new Router();
  let css: Promise<string> | undefined;
  router.get(paths.stylesheet, async (ctx) => {
    css ??= readFile(`${dir}static/gatehouse.css`, 'utf8');
    setPageSecurityHeaders(ctx);
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.type = 'text/css';
    ctx.body = await css;
  });
  return router;
}
