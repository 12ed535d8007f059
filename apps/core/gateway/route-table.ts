import { compareSpecificity, matchPattern, parameterNames, parsePathPattern, type PathPattern } from './route-pattern.ts';

/** An edge route as stored (route-queries.ts). */
export interface RouteRecord {
  id: string;
  host: string;
  path: string;
  /** Upper case; empty: any method. */
  methods: string[];
  public: boolean;
  /** The API whose tokens the route accepts (its identifier); null on public routes. */
  api: string | null;
  scopes: string[];
  roles: string[];
  /** `ACTION:RESOURCE_TYPE` for the policy decision point. */
  decide: string | null;
  login: boolean;
  createdAt: Date;
}

export interface EdgeRoute extends Omit<RouteRecord, 'decide'> {
  pattern: PathPattern;
  decide?: { action: string; resourceType: string; idParam?: string };
}

export interface RouteMatch {
  route: EdgeRoute;
  params: Record<string, string>;
}

/** Why nothing matched: no route names the path, or the routes that do name other methods. */
export type RouteLookup = { ok: true; match: RouteMatch } | { ok: false; reason: 'no_route' | 'method' };

/** `*.example.test`: every name below example.test (not example.test itself). */
export const isWildcardHost = (host: string) => host.startsWith('*.');

/**
 * The host part of what a gateway reports (`Host`, X-Forwarded-Host, X-Original-Host) as routes
 * name hosts: lower case, without the port or a trailing dot. Undefined when it is no host name
 * or IP literal, which no route can match.
 */
export function hostnameOf(host: string): string | undefined {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(host);
  if (!match) return undefined;
  const name = match[1].toLowerCase().replace(/\.$/, '');
  return name && !name.startsWith('.') && !name.includes('..') ? name : undefined;
}

/** `update:order`: the action, then the resource type (which may hold `::`, Cedar's namespace separator). */
export function parseDecide(text: string): { action: string; resourceType: string } | undefined {
  const at = text.indexOf(':');
  if (at <= 0) return undefined;
  return { action: text.slice(0, at), resourceType: text.slice(at + 1) };
}

function compile(record: RouteRecord): EdgeRoute | undefined {
  const parsed = parsePathPattern(record.path);
  if (!parsed.ok) return undefined;
  const pattern = parsed.pattern;
  const decided = record.decide ? parseDecide(record.decide) : undefined;
  if (record.decide && !decided) return undefined;
  // resource.id is the last named segment: /orders/:id, /shops/:shop/orders/:order.
  const idParam = parameterNames(pattern).at(-1);
  return { ...record, pattern, decide: decided && { ...decided, idParam } };
}

const byPreference = (a: EdgeRoute, b: EdgeRoute) =>
  compareSpecificity(a.pattern, b.pattern) ||
  // Patterns of equal rank that differ (`/orders/:id`, `/users/:id`) never match one path; kept
  // apart, each shape's routes stay next to each other.
  (a.pattern.shape < b.pattern.shape ? -1 : a.pattern.shape > b.pattern.shape ? 1 : 0) ||
  (b.methods.length > 0 ? 1 : 0) - (a.methods.length > 0 ? 1 : 0) ||
  a.createdAt.getTime() - b.createdAt.getTime();

/**
 * The routes, indexed for matching in memory. The most specific match wins: an exact host
 * before a wildcard one (the longer suffix first), then the most specific path pattern (a
 * literal before a parameter before `*`, a longer pattern before a shorter one), then a route
 * that lists the method before one that takes any. The method only chooses among routes of the
 * path pattern that won: a request whose method none of them takes is refused, never handed to
 * a broader pattern (`/admin/*` for GET must not leave DELETE to a public `/*`).
 */
export function createRouteTable(records: RouteRecord[]) {
  const routes = records.map(compile).filter((route): route is EdgeRoute => !!route);
  const exact = new Map<string, EdgeRoute[]>();
  const wildcards = new Map<string, EdgeRoute[]>();
  for (const route of routes) {
    const index = isWildcardHost(route.host) ? wildcards : exact;
    const key = isWildcardHost(route.host) ? route.host.slice(1) : route.host;
    index.set(key, [...(index.get(key) ?? []), route]);
  }
  for (const list of [...exact.values(), ...wildcards.values()]) list.sort(byPreference);
  const suffixes = [...wildcards.keys()].sort((a, b) => b.length - a.length);

  function inList(list: EdgeRoute[], method: string, segments: readonly string[]): RouteLookup | undefined {
    for (let i = 0; i < list.length; i++) {
      const params = matchPattern(list[i].pattern, segments);
      if (!params) continue;
      // The first path match is the most specific shape; only routes of that shape may take the method.
      const shape = list[i].pattern.shape;
      for (let j = i; j < list.length && list[j].pattern.shape === shape; j++) {
        const route = list[j];
        if (route.methods.length === 0 || route.methods.includes(method))
          return { ok: true, match: { route, params: j === i ? params : matchPattern(route.pattern, segments)! } };
      }
      return { ok: false, reason: 'method' };
    }
    return undefined;
  }

  return {
    size: routes.length,
    /** Routes stored with a pattern this version cannot read (written by hand): left out, and counted. */
    skipped: records.length - routes.length,

    match(hostname: string, method: string, segments: readonly string[]): RouteLookup {
      const own = exact.get(hostname);
      const found = own && inList(own, method, segments);
      if (found) return found;
      for (const suffix of suffixes) {
        if (!hostname.endsWith(suffix)) continue;
        const wild = inList(wildcards.get(suffix)!, method, segments);
        if (wild) return wild;
      }
      return { ok: false, reason: 'no_route' };
    },

    /** Whether any route names this host: where the edge may send a browser back after sign-in. */
    hasHost(hostname: string): boolean {
      return exact.has(hostname) || suffixes.some((suffix) => hostname.endsWith(suffix));
    },
  };
}

export type RouteTable = ReturnType<typeof createRouteTable>;
