import type { RouteRecord } from '../core/gateway/route-table.ts';
import type { RouteService } from '../core/gateway/routes.ts';
import { commaSeparated, formatDate, table, type Command, type Noun } from './output.ts';

type Needs = { routes: RouteService };

const describeRoute = (route: RouteRecord) => ({
  id: route.id,
  host: route.host,
  path: route.path,
  methods: route.methods,
  public: route.public,
  api: route.api,
  scopes: route.scopes,
  roles: route.roles,
  decide: route.decide,
  login: route.login,
  created_at: route.createdAt,
});

/** What a route asks of a request, in a few words. */
function requirements(route: RouteRecord): string {
  if (route.public) return 'public';
  return [
    `api ${route.api}`,
    ...(route.scopes.length ? [`scopes ${route.scopes.join(' ')}`] : []),
    ...(route.roles.length ? [`roles ${route.roles.join(' ')}`] : []),
    ...(route.decide ? [`decide ${route.decide}`] : []),
    ...(route.login ? ['login'] : []),
  ].join('; ');
}

const add: Command<Needs> = {
  summary: 'add an edge route: what API gateways let through for a host, path pattern and methods',
  options: {
    host: {
      type: 'string',
      field: 'host',
      value: 'HOST',
      required: true,
      description: 'the host it protects (orders.example.test), or *.example.test for every name below one',
    },
    path: {
      type: 'string',
      field: 'path',
      value: 'PATTERN',
      required: true,
      description: 'literal segments, :name for one named segment, a trailing * for the rest (/orders/:id, /static/*)',
    },
    methods: { type: 'string', field: 'methods', value: 'METHODS', parse: commaSeparated, description: 'comma-separated, e.g. GET,HEAD (default: any method)' },
    public: { type: 'boolean', field: 'public', description: 'let every request through, with no token' },
    api: { type: 'string', field: 'api', value: 'URI', description: 'the API whose access tokens the route takes (their audience)' },
    scopes: { type: 'string', field: 'scopes', value: 'SCOPES', description: 'scopes the token must hold, e.g. "orders:read"' },
    roles: { type: 'string', field: 'roles', value: 'ROLES', description: 'roles on the API the caller must hold, every one of them' },
    decide: {
      type: 'string',
      field: 'decide',
      value: 'ACTION:TYPE',
      description: 'also ask the policy decision point, e.g. update:order (resource.id: the last :name segment, else the path)',
    },
    login: { type: 'boolean', field: 'login', description: "send a browser without a token through Gatehouse's sign-in (an edge session cookie)" },
  },
  async run({ fields }, { routes }) {
    const route = await routes.add(fields as Parameters<RouteService['add']>[0]);
    return {
      text: `route ${route.id} added: ${route.host} ${route.path} ${route.methods.join(',') || 'any method'} (${requirements(route)})`,
      json: describeRoute(route),
    };
  },
};

const list: Command<Needs> = {
  summary: 'list edge routes by host and path',
  async run(_input, { routes }) {
    const all = await routes.list();
    return {
      text: table(
        ['ID', 'HOST', 'PATH', 'METHODS', 'REQUIRES', 'CREATED'],
        all.map((r) => [r.id, r.host, r.path, r.methods.join(',') || '*', requirements(r), formatDate(r.createdAt)]),
      ),
      json: all.map(describeRoute),
    };
  },
};

const remove: Command<Needs> = {
  summary: 'remove an edge route (every instance stops using it within EDGE_ROUTE_REFRESH_INTERVAL)',
  args: ['ID'],
  async run({ args: [id] }, { routes }) {
    const route = await routes.remove(id);
    return { text: `route ${route.id} removed (${route.host} ${route.path})`, json: describeRoute(route) };
  },
};

export const route: Noun = {
  summary: 'edge routes: which requests API gateways (nginx, Traefik, Envoy) let through, and on what terms',
  commands: { add, list, remove },
};
