import { createHash } from 'node:crypto';
import type { Context, Next } from 'koa';
import { paths } from '../paths.ts';

const cacheablePaths = new Set<string>([paths.discovery, paths.oauthMetadata, paths.jwks]);

/** What a cached metadata document answers: 200 with the body (Node sends none for HEAD), or 304. */
export interface MetadataAnswer {
  status: 200 | 304;
  headers: Record<string, string>;
  body?: string;
}

export interface MetadataCache {
  /** The answer from memory, once the document has been rendered; undefined before that. */
  answer(method: string, path: string, ifNoneMatch: string | undefined): MetadataAnswer | undefined;
  /** Renders each document once through oidc-provider, then answers from memory. */
  middleware(ctx: Context, next: Next): Promise<void>;
}

/**
 * Discovery and JWKS do not change while one provider instance lives (a key change builds a
 * new provider, and with it a new cache), so each is rendered once and then served from memory
 * with an ETag, and relying parties may cache it for JWKS_MAX_AGE seconds (key rotation waits
 * longer than that). The edge (metadata-edge.ts) answers from the same cache without Koa.
 */
export function createMetadataCache(maxAgeSeconds: number): MetadataCache {
  const rendered = new Map<string, { body: string; etag: string; length: string }>();
  const cacheControl = `public, max-age=${maxAgeSeconds}`;

  function answer(method: string, path: string, ifNoneMatch: string | undefined): MetadataAnswer | undefined {
    if (method !== 'GET' && method !== 'HEAD') return undefined;
    const entry = rendered.get(path);
    if (!entry) return undefined;
    const validators = { 'Cache-Control': cacheControl, ETag: entry.etag, 'Access-Control-Allow-Origin': '*' };
    if (ifNoneMatch && etagMatches(ifNoneMatch, entry.etag)) return { status: 304, headers: validators };
    const headers = { ...validators, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': entry.length };
    return { status: 200, headers, body: entry.body };
  }

  return {
    answer,
    async middleware(ctx, next) {
      if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || !cacheablePaths.has(ctx.path)) return next();
      if (!rendered.has(ctx.path)) {
        await next();
        if (ctx.status !== 200 || !ctx.body) return;
        const body = JSON.stringify(ctx.body);
        const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
        rendered.set(ctx.path, { body, etag, length: String(Buffer.byteLength(body)) });
        // oidc-provider's CORS step varies on Origin; this answer is the same for every origin.
        ctx.remove('Vary');
      }
      const { status, headers, body } = answer(ctx.method, ctx.path, ctx.get('If-None-Match'))!;
      ctx.set(headers);
      ctx.status = status;
      ctx.body = body ?? null;
    },
  };
}

/** RFC 9110 §13.1.2: a list of (possibly weak) entity tags, or `*`, compared weakly. */
export function etagMatches(header: string, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === etag);
}
