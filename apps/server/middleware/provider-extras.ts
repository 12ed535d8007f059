import { createHash } from 'node:crypto';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { isDatabaseUnavailable } from '../../core/database.ts';
import { paths } from '../paths.ts';
import { databaseUnavailableBody } from './errors.ts';

const cacheablePaths = new Set<string>([paths.discovery, paths.oauthMetadata, paths.jwks]);

/**
 * Discovery and JWKS do not change while one provider instance lives (a key change builds a
 * new provider), so each is rendered once and then served from memory with an ETag, and
 * relying parties may cache it for JWKS_MAX_AGE seconds (key rotation waits longer than that).
 */
export function cacheMetadata(maxAgeSeconds: number) {
  const rendered = new Map<string, { body: string; etag: string }>();
  return async function serveCachedMetadata(ctx: Context, next: Next) {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    if (!cacheablePaths.has(ctx.path)) return next();
    let entry = rendered.get(ctx.path);
    if (!entry) {
      await next();
      if (ctx.status !== 200 || !ctx.body) return;
      const body = JSON.stringify(ctx.body);
      entry = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
      rendered.set(ctx.path, entry);
    }
    ctx.set('Cache-Control', `public, max-age=${maxAgeSeconds}`);
    ctx.set('ETag', entry.etag);
    ctx.set('Access-Control-Allow-Origin', '*');
    if (etagMatches(ctx.get('If-None-Match'), entry.etag)) {
      ctx.status = 304;
      ctx.body = null;
      return;
    }
    ctx.status = 200;
    ctx.type = 'application/json; charset=utf-8';
    ctx.body = entry.body;
  };
}

/** RFC 9110 §13.1.2: a list of (possibly weak) entity tags, or `*`, compared weakly. */
export function etagMatches(header: string, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === etag);
}

const dbDown = Symbol('databaseUnavailable');

/**
 * oidc-provider renders every unexpected error as a 500 `server_error`. When the cause is a
 * database outage the honest answer is 503 with Retry-After, which load balancers and clients
 * know to retry.
 */
export function answerDatabaseOutagesWith503(provider: Provider) {
  provider.on('server_error', (ctx: Context, error: unknown) => {
    if (isDatabaseUnavailable(error)) (ctx.state as Record<symbol, boolean>)[dbDown] = true;
  });
  return async function databaseOutageTo503(ctx: Context, next: Next) {
    await next();
    if ((ctx.state as Record<symbol, boolean>)[dbDown]) {
      ctx.status = 503;
      ctx.set('Retry-After', '5');
      ctx.type = 'json';
      ctx.body = databaseUnavailableBody;
    }
  };
}
