import type { IncomingMessage } from 'node:http';
import { AppError } from '../../core/errors.ts';

/** oidc-provider's own limit for a request body (lib/shared/selective_body.js). */
export const PROVIDER_BODY_LIMIT = 56 * 1024;

export class BodyTooLarge extends Error {
  constructor() {
    super('request body too large');
  }
}

/** The client went away before its whole body arrived: a refusal nobody reads, logged as one. */
export class RequestAborted extends AppError {
  constructor() {
    super('request.aborted', 'the request ended before its body did', { status: 400 });
  }
}

/**
 * The body of a request as text, refused past `limit` bytes. It is read to the end even past the
 * limit: a body left half-read would be taken for the next request on a kept-alive connection.
 * A body read before (handed on through `req.body`) is returned as it was read.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const earlier = (req as { body?: unknown }).body;
  if (typeof earlier === 'string') return Promise.resolve(earlier);
  const declared = Number(req.headers['content-length'] ?? 0);
  // Events rather than `for await`: this runs on every decision the policy decision point makes,
  // and an async iterator per request costs more than the body it reads.
  return new Promise((resolve, reject) => {
    // A request closed while it waited (its token was being checked) emits nothing more.
    if (req.destroyed) return reject(new RequestAborted());
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit && declared <= limit) chunks.push(chunk);
    });
    req.once('end', () => {
      if (size > limit || declared > limit) reject(new BodyTooLarge());
      else resolve((chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)).toString('utf8'));
    });
    req.once('error', () => reject(new RequestAborted()));
    req.once('close', () => {
      if (!req.complete) reject(new RequestAborted());
    });
  });
}

// C0 controls other than tab, line feed and carriage return (which a JSON `claims` parameter may
// hold), and DEL. PostgreSQL cannot store NUL in text or jsonb, and no OAuth parameter holds any
// of them legitimately (RFC 6749 Appendix A: state, scope, client_id are printable ASCII).
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for
const controlCharacter = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** The name of the first parameter whose name or value holds a control character. */
export function firstControlCharacter(params: Iterable<[string, string]>): string | undefined {
  for (const [name, value] of params) {
    if (controlCharacter.test(name) || controlCharacter.test(value)) return controlCharacter.test(name) ? 'a parameter name' : name;
  }
  return undefined;
}

export const hasControlCharacter = (value: string) => controlCharacter.test(value);
