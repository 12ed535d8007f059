import type { Context, Next } from 'koa';

/**
 * Headers every response carries, set before anything renders (oidc-provider's responses
 * included, since it writes to the same Node response). HSTS only when the issuer is https.
 * `page` adds to and overrides these for an app whose every answer may be a page (the
 * provider's: page-security.ts), so that each header is set once per response.
 */
export function securityHeaderValues({ https, page = {} }: { https: boolean; page?: Record<string, string> }): Record<string, string> {
  return {
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Content-Security-Policy': "frame-ancestors 'none'",
    'Referrer-Policy': 'no-referrer',
    ...(https && { 'Strict-Transport-Security': 'max-age=31536000; includeSubDomains' }),
    ...page,
  };
}

export function securityHeaders(options: { https: boolean; page?: Record<string, string> }) {
  const headers = securityHeaderValues(options);
  return async function setSecurityHeaders(ctx: Context, next: Next) {
    ctx.set(headers);
    await next();
  };
}
