import { z } from 'zod';
import { undefinedScopes, type ApiService } from '../apis/api-service.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { AppError } from '../errors.ts';
import { isUuid, parseInput } from '../validation.ts';
import { createRouteQueries, type RouteQueries } from './route-queries.ts';
import { parsePathPattern } from './route-pattern.ts';
import type { RouteRecord } from './route-table.ts';
import type { Database } from '../db/database.ts';

const label = '[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?';
// A name of two labels at least after `*.`: `*.test` would put a whole top-level domain behind one route.
const hostName = new RegExp(`^(\\*\\.${label}(\\.${label})+|${label}(\\.${label})*)$`);
const method = z
  .string()
  .regex(/^[A-Za-z]{1,20}$/, 'expected HTTP methods such as GET,HEAD')
  .transform((m) => m.toUpperCase());
const token = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'expected names without spaces, quotes or backslashes');
const tokenList = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => [...new Set((Array.isArray(v) ? v : v.split(/[\s,]+/)).map((s) => s.trim()).filter(Boolean))])
  .pipe(z.array(token).max(50, 'at most 50'));
// Cedar names (namespaces with ::) for the resource type, as the decision point requires.
const cedarName = /^[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*$/;
const decide = z
  .string()
  .regex(new RegExp(`^[A-Za-z0-9_.-]{1,100}:${cedarName.source.slice(1, -1)}$`), 'expected ACTION:RESOURCE_TYPE, e.g. update:order (the type a Cedar name)');

export const addRouteSchema = z
  .object({
    host: z.string().trim().toLowerCase().max(253).regex(hostName, 'expected a host name (orders.example.test) or *.example.test'),
    path: z.string().superRefine((path, ctx) => {
      const parsed = parsePathPattern(path);
      if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.message });
    }),
    methods: z
      .array(method)
      .max(20)
      .default([])
      .transform((list) => [...new Set(list)].sort()),
    public: z.boolean().default(false),
    api: z.url({ error: 'expected an API identifier (an absolute URI)' }).max(2000).optional(),
    scopes: tokenList.default([]),
    roles: tokenList.default([]),
    decide: decide.optional(),
    login: z.boolean().default(false),
  })
  .superRefine((route, ctx) => {
    if (route.public === !!route.api) {
      ctx.addIssue({ code: 'custom', path: ['api'], message: 'a route is either public or needs an API (--api URI)' });
    }
    if (route.public && (route.scopes.length || route.roles.length || route.decide || route.login)) {
      ctx.addIssue({ code: 'custom', path: ['public'], message: 'a public route takes no scopes, roles, policy or sign-in' });
    }
    // An edge session is a browser's sign-in, not a token a client asked scopes for.
    if (route.login && route.scopes.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['scopes'],
        message: 'a --login route cannot require scopes: a signed-in browser carries none (use --roles or --decide)',
      });
    }
  });

export type AddRouteBody = z.input<typeof addRouteSchema>;

const overlaps = (a: string[], b: string[]) => (a.length === 0 && b.length === 0) || (a.length > 0 && b.some((m) => a.includes(m)));

/** The edge's routes: added and removed from the CLI, read by every instance's route poller. */
export function createRouteService({
  db,
  apis,
  audit,
  queries = createRouteQueries(db),
}: {
  db: Database;
  apis: Pick<ApiService, 'findByIdentifier'>;
  audit?: AuditLog;
  queries?: RouteQueries;
}) {
  return {
    async add(input: AddRouteBody): Promise<RouteRecord> {
      const body = parseInput(addRouteSchema, input, 'route');
      if (body.api) {
        const api = await apis.findByIdentifier(body.api);
        if (!api) throw new AppError('route.api_not_found', `no API with identifier ${body.api} (gatehouse api create)`, { status: 404 });
        const problem = undefinedScopes(api, body.scopes);
        if (problem) throw new AppError('route.invalid_input', problem);
      }
      const parsed = parsePathPattern(body.path);
      if (!parsed.ok) throw new AppError('route.invalid_input', `path: ${parsed.message}`);
      const { shape } = parsed.pattern;
      // Two routes of one host, one path shape and a method in common would leave the winner to chance.
      const result = await queries.insert(
        {
          host: body.host,
          path: body.path,
          methods: body.methods,
          public: body.public,
          api: body.api ?? null,
          scopes: body.scopes,
          roles: body.roles,
          decide: body.decide ?? null,
          login: body.login,
        },
        (sameHost) => {
          const clash = sameHost.find((r) => {
            const other = parsePathPattern(r.path);
            return other.ok && other.pattern.shape === shape && overlaps(r.methods, body.methods);
          });
          return (
            clash &&
            `route ${clash.id} (${clash.host} ${clash.path} ${clash.methods.join(',') || 'any method'}) already decides these requests; remove it first`
          );
        },
      );
      if (!result.ok) throw new AppError('route.conflict', result.reason, { status: 409 });
      await audit?.record({
        type: 'edge_route.added',
        details: {
          id: result.route.id,
          host: body.host,
          path: body.path,
          methods: body.methods,
          public: body.public,
          api: body.api,
          scopes: body.scopes,
          roles: body.roles,
          decide: body.decide,
          login: body.login,
        },
      });
      return result.route;
    },

    list: () => queries.list(),

    async remove(id: string): Promise<RouteRecord> {
      const removed = isUuid(id) ? await queries.remove(id.toLowerCase()) : undefined;
      if (!removed) throw new AppError('route.not_found', `no route with id ${id}`, { status: 404 });
      await audit?.record({ type: 'edge_route.removed', details: { id: removed.id, host: removed.host, path: removed.path } });
      return removed;
    },
  };
}

export type RouteService = ReturnType<typeof createRouteService>;
