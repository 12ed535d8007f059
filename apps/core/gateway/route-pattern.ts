/**
 * Path patterns of edge routes: literal segments, `:name` for one named segment, and a trailing
 * `*` for the rest (`/orders/:id`, `/static/*`). A pattern is matched against a request path
 * already split into decoded segments (request-path.ts), so a literal names a segment as the
 * upstream receives it decoded, and nothing here ever sees a `/`, `.` or `..` inside a segment.
 */

export type PatternSegment = { kind: 'literal'; value: string } | { kind: 'param'; name: string };

export interface PathPattern {
  /** As written. */
  source: string;
  segments: PatternSegment[];
  /** Ends in `*`: matches the segments above and anything below them, or nothing below them. */
  rest: boolean;
  /** The pattern without its parameter names (`/orders/:`): two patterns of one shape match the same paths. */
  shape: string;
  /** Compared element by element, higher first: the more specific of two patterns that match one path. */
  rank: number[];
}

export type PatternParse = { ok: true; pattern: PathPattern } | { ok: false; message: string };

export const MAX_PATTERN_LENGTH = 1024;
const MAX_SEGMENTS = 64;
// RFC 3986 pchar without percent-encoding and without a leading ':' (which names a parameter):
// a pattern names decoded text, and an encoded octet in it could be read two ways.
const literal = /^[A-Za-z0-9\-._~!$&'()+,;=@:]+$/;
const paramName = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

// A literal beats a parameter beats the rest at the first position where two patterns differ;
// a pattern that ends (no `*`) beats one that goes on matching anything below.
const RANK = { literal: 3, param: 2, rest: 1, end: 4 } as const;

export function parsePathPattern(source: string): PatternParse {
  const fail = (message: string): PatternParse => ({ ok: false, message });
  if (typeof source !== 'string' || source.length === 0) return fail('expected a path pattern such as /orders/:id or /static/*');
  if (source.length > MAX_PATTERN_LENGTH) return fail(`expected at most ${MAX_PATTERN_LENGTH} characters`);
  if (!source.startsWith('/')) return fail('must start with /');
  if (source === '/') return { ok: true, pattern: { source, segments: [], rest: false, shape: '/', rank: [RANK.end] } };
  const parts = source.slice(1).split('/');
  if (parts.length > MAX_SEGMENTS) return fail(`expected at most ${MAX_SEGMENTS} segments`);
  const segments: PatternSegment[] = [];
  const names = new Set<string>();
  let rest = false;
  for (const [index, part] of parts.entries()) {
    const last = index === parts.length - 1;
    if (part === '*') {
      if (!last) return fail('* may only be the last segment');
      rest = true;
    } else if (part === '') {
      return fail(last ? 'must not end with / (write /path or /path/*)' : 'must not contain an empty segment (//)');
    } else if (part.startsWith(':')) {
      const name = part.slice(1);
      if (!paramName.test(name)) return fail(`segment '${part}': a parameter is : and a name of letters, digits and _`);
      if (names.has(name)) return fail(`parameter :${name} appears twice`);
      names.add(name);
      segments.push({ kind: 'param', name });
    } else if (part === '.' || part === '..') {
      return fail(`segment '${part}' is not allowed`);
    } else if (part.includes('*')) {
      return fail(`segment '${part}': * stands alone, as the last segment`);
    } else if (!literal.test(part)) {
      return fail(`segment '${part}': expected letters, digits and - . _ ~ ! $ & ' ( ) + , ; = @ : (no %, ?, # or spaces)`);
    } else {
      segments.push({ kind: 'literal', value: part });
    }
  }
  const shape = `/${[...segments.map((s) => (s.kind === 'literal' ? s.value : ':')), ...(rest ? ['*'] : [])].join('/')}`;
  const rank = [...segments.map((s) => RANK[s.kind]), rest ? RANK.rest : RANK.end];
  return { ok: true, pattern: { source, segments, rest, shape, rank } };
}

/** The named segments' values when the pattern matches the path's segments, else undefined. */
export function matchPattern(pattern: PathPattern, path: readonly string[]): Record<string, string> | undefined {
  const { segments } = pattern;
  if (pattern.rest ? path.length < segments.length : path.length !== segments.length) return undefined;
  let params: Record<string, string> | undefined;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    if (segment.kind === 'literal') {
      if (segment.value !== path[i]) return undefined;
    } else {
      // A named segment names something: an empty one (`/orders/`) is no id.
      if (path[i] === '') return undefined;
      (params ??= {})[segment.name] = path[i];
    }
  }
  return params ?? {};
}

/** Negative when `a` is more specific than `b` (sorts the more specific first). */
export function compareSpecificity(a: PathPattern, b: PathPattern): number {
  const length = Math.max(a.rank.length, b.rank.length);
  for (let i = 0; i < length; i++) {
    const difference = (b.rank[i] ?? 0) - (a.rank[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

/** The named segments of a pattern, in order. */
export const parameterNames = (pattern: PathPattern) => pattern.segments.flatMap((s) => (s.kind === 'param' ? [s.name] : []));
