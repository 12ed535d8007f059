import type { Context, Next } from 'koa';

const baseDirectives: Record<string, string[]> = {
  'default-src': ["'none'"],
  'style-src': ["'self'"],
  'img-src': ["'self'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
  'base-uri': ["'none'"],
};

const serialize = (directives: Record<string, string[]>) =>
  Object.entries(directives)
    .map(([name, values]) => [name, ...values].join(' '))
    .join('; ');

const parse = (header: string): Record<string, string[]> =>
  Object.fromEntries(
    header
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter(([name]) => name)
      .map(([name, ...values]) => [name, values]),
  );

/** What every HTML page we serve carries: a strict CSP (plus `extra` directives), no framing, no referrer, no caching. */
function pageHeaders(extra: Record<string, string[]> = {}): Record<string, string> {
  const directives = { ...baseDirectives };
  for (const [name, values] of Object.entries(extra)) directives[name] = [...(directives[name] ?? []), ...values];
  return { 'Content-Security-Policy': serialize(directives), 'X-Frame-Options': 'DENY', 'Referrer-Policy': 'no-referrer', 'Cache-Control': 'no-store' };
}

export function setPageSecurityHeaders(ctx: Context, extra: Record<string, string[]> = {}) {
  ctx.set(pageHeaders(extra));
}

/**
 * Lets a page's forms lead to these URLs. Browsers apply form-action to the whole redirect
 * chain after a submit, so a login form whose answer redirects to the client's redirect_uri
 * needs that origin too.
 */
export function allowFormTargets(ctx: Context, urls: Array<string | undefined>) {
  const header = ctx.response.get('Content-Security-Policy');
  if (!header) return;
  const directives = parse(header);
  if (!directives['form-action']) return;
  for (const url of urls) {
    const origin = url && URL.canParse(url) ? new URL(url).origin : undefined;
    if (origin && origin !== 'null' && !directives['form-action'].includes(origin)) directives['form-action'].push(origin);
  }
  ctx.set('Content-Security-Policy', serialize(directives));
}

export async function pageSecurityHeaders(ctx: Context, next: Next) {
  setPageSecurityHeaders(ctx);
  await next();
}

/**
 * The same headers on the pages oidc-provider renders itself (form_post, logout, errors),
 * which the provider's edge sets on every protocol response (http/app.ts, `pageHeaders`).
 * Its form_post page auto-submits with one inline script whose hash it appends to an existing
 * script-src directive, so that directive must be present; 'self' adds nothing we serve.
 */
export const providerPageHeaders = pageHeaders({ 'script-src': ["'self'"] });

/** After the provider answered: its form_post and logout pages may post to the client's URLs. */
export async function allowProviderFormTargets(ctx: Context & { oidc?: { params?: Record<string, unknown> } }, next: Next) {
  await next();
  const params = ctx.oidc?.params;
  const targets = [params?.redirect_uri, params?.post_logout_redirect_uri].filter((u): u is string => typeof u === 'string');
  if (targets.length) allowFormTargets(ctx, targets);
}
