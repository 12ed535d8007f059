import type { Context, Next } from 'koa';

/**
 * Headers every response carries, set before anything renders (oidc-provider's responses
 * included, since it writes to the same Node response). HSTS only when the issuer is https.
 * No script-src policy: oidc-provider's form_post and error pages use inline script and style.
 */
export function securityHeaders({ https }: { https: boolean }) {
  const headers: Record<string, string> = {
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Content-Security-Policy': "frame-ancestors 'none'",
    'Referrer-Policy': 'no-referrer',
  };
  if (https) headers['Strict-Transport-Security'] = 'max-age=31536000; includeSubDomains';
  return async function setSecurityHeaders(ctx: Context, next: Next) {
    ctx.set(headers);
    await next();
  };
}
