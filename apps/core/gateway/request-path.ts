/**
 * The protected request's path, as the gateway reports it (nginx's `$request_uri`, Traefik's
 * X-Forwarded-Uri, Envoy's `:path`: raw, with the query), split into decoded segments for route
 * matching. Where servers disagree on what a path means, the path is refused rather than
 * matched: a deny is always safe, while matching a reading the upstream does not share could
 * let a request through under a broader route than the one that protects what it reaches.
 */

export type RequestPath = { ok: true; path: string; segments: string[] } | { ok: false; reason: string };

/** Longer request targets are refused: no route needs them, and they are the shape of probing. */
export const MAX_URI_LENGTH = 4096;

// What RFC 9112 allows in a request target, raw: RFC 3986 pchar, '/', '?', and '%' escapes.
// Anything else (spaces, quotes, backslashes, control and non-ASCII bytes) means the gateway
// passed on something no upstream should be asked to interpret.
const targetCharacters = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$/;

/**
 * Splits and decodes `uri` (a path with an optional query). Refused:
 * - anything but origin form (`/...`), over MAX_URI_LENGTH, or with characters outside RFC 3986;
 * - a malformed escape (`%zz`), or escapes that do not decode to UTF-8;
 * - an encoded `/` or `\` (`%2F`, `%5C`): servers differ on whether it separates segments;
 * - `.` and `..` segments, encoded or not (`/orders/../admin`, `/%2e%2e/`): the upstream, or a
 *   proxy on the way, may resolve them, and the route to match would then be another one;
 * - a `%` left after decoding (`%252F`): an upstream that decodes twice reads something else;
 * - `;` in a segment: some servers drop what follows it (`/admin;x/`), others do not;
 * - empty segments but a trailing one (`//admin`): some servers merge slashes, others do not.
 */
export function parseRequestPath(uri: string | undefined): RequestPath {
  const refuse = (reason: string): RequestPath => ({ ok: false, reason });
  if (!uri) return refuse('the original request URI is missing');
  if (uri.length > MAX_URI_LENGTH) return refuse(`the original request URI is longer than ${MAX_URI_LENGTH} characters`);
  if (uri[0] !== '/') return refuse('the original request URI is not a path');
  if (!targetCharacters.test(uri)) return refuse('the original request URI has characters a URI may not hold');
  const query = uri.indexOf('?');
  const path = query === -1 ? uri : uri.slice(0, query);
  const raw = path.slice(1).split('/');
  const segments: string[] = new Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const part = raw[i];
    if (part === '') {
      if (i !== raw.length - 1) return refuse('the original request path has an empty segment (//)');
      segments[i] = part;
      continue;
    }
    let decoded = part;
    if (part.includes('%')) {
      try {
        decoded = decodeURIComponent(part);
      } catch {
        return refuse('the original request path has a malformed percent-encoding');
      }
      if (decoded.includes('/') || decoded.includes('\\')) return refuse('the original request path has an encoded slash');
      if (decoded.includes('%')) return refuse('the original request path is encoded twice');
      // Decoded control characters would reach logs and upstreams that never expect them.
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for
      if (/[\x00-\x1f\x7f]/.test(decoded)) return refuse('the original request path encodes a control character');
    }
    if (decoded === '.' || decoded === '..') return refuse('the original request path has a dot segment');
    if (decoded.includes(';')) return refuse('the original request path has a ; (path parameters are read differently by different servers)');
    segments[i] = decoded;
  }
  // `/` is the root, no segments; `/orders/` keeps its trailing empty segment.
  return { ok: true, path, segments: path === '/' ? [] : segments };
}
