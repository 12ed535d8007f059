import { parseRequestPath } from '../../apps/core/gateway/request-path.ts';
import { parsePathPattern } from '../../apps/core/gateway/route-pattern.ts';
import { createRouteTable, hostnameOf, type RouteRecord } from '../../apps/core/gateway/route-table.ts';

let sequence = 0;
const record = (host: string, path: string, extra: Partial<RouteRecord> = {}): RouteRecord => ({
  id: `route-${++sequence}`,
  host,
  path,
  methods: [],
  public: false,
  api: 'https://api.example.test',
  scopes: [],
  roles: [],
  decide: null,
  login: false,
  createdAt: new Date(1_000_000 + sequence),
  ...extra,
});

const segments = (uri: string) => {
  const parsed = parseRequestPath(uri);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.segments;
};

describe('path patterns', () => {
  it('parses literal segments, :name segments and a trailing *', () => {
    const parsed = parsePathPattern('/shops/:shop/orders/*');
    expect(parsed).toEqual({
      ok: true,
      pattern: expect.objectContaining({
        segments: [
          { kind: 'literal', value: 'shops' },
          { kind: 'param', name: 'shop' },
          { kind: 'literal', value: 'orders' },
        ],
        rest: true,
        shape: '/shops/:/orders/*',
      }),
    });
  });

  it.each([
    ['orders', 'must start with /'],
    ['/orders/', 'must not end with / (write /path or /path/*)'],
    ['/orders//x', 'must not contain an empty segment (//)'],
    ['/*/orders', '* may only be the last segment'],
    ['/orders*', "segment 'orders*': * stands alone, as the last segment"],
    ['/orders/:', "segment ':': a parameter is : and a name of letters, digits and _"],
    ['/orders/:id/items/:id', 'parameter :id appears twice'],
    ['/orders/..', "segment '..' is not allowed"],
    ['/orders/%2F', "segment '%2F': expected letters, digits and - . _ ~ ! $ & ' ( ) + , ; = @ : (no %, ?, # or spaces)"],
    ['/orders?x=1', "segment 'orders?x=1': expected letters, digits and - . _ ~ ! $ & ' ( ) + , ; = @ : (no %, ?, # or spaces)"],
    ['', 'expected a path pattern such as /orders/:id or /static/*'],
  ])('refuses %j: %s', (pattern, message) => {
    expect(parsePathPattern(pattern)).toEqual({ ok: false, message });
  });
});

describe('the route table: the most specific match wins', () => {
  const table = createRouteTable([
    record('orders.example.test', '/*', { public: true, api: null }),
    record('orders.example.test', '/orders/*'),
    record('orders.example.test', '/orders/:id', { methods: ['GET'] }),
    record('orders.example.test', '/orders/:id', { scopes: ['orders:write'] }),
    record('orders.example.test', '/orders/new'),
    record('orders.example.test', '/'),
    record('*.example.test', '/orders/:id'),
    record('*.eu.example.test', '/*'),
  ]);
  const winner = (host: string, method: string, uri: string) => {
    const found = table.match(host, method, segments(uri));
    return found.ok
      ? `${found.match.route.host} ${found.match.route.path} ${found.match.route.methods.join(',') || '*'} ${JSON.stringify(found.match.params)}`
      : found.reason;
  };

  it('a literal before a parameter before the rest', () => {
    expect(winner('orders.example.test', 'GET', '/orders/new')).toBe('orders.example.test /orders/new * {}');
    expect(winner('orders.example.test', 'GET', '/orders/17')).toBe('orders.example.test /orders/:id GET {"id":"17"}');
    expect(winner('orders.example.test', 'GET', '/orders/17/lines')).toBe('orders.example.test /orders/* * {}');
    expect(winner('orders.example.test', 'GET', '/orders')).toBe('orders.example.test /orders/* * {}');
    expect(winner('orders.example.test', 'GET', '/')).toBe('orders.example.test / * {}');
    expect(winner('orders.example.test', 'GET', '/about')).toBe('orders.example.test /* * {}');
  });

  it('then a route that lists the method before one that takes any', () => {
    expect(winner('orders.example.test', 'DELETE', '/orders/17')).toBe('orders.example.test /orders/:id * {"id":"17"}');
  });

  it('an exact host before a wildcard, a longer wildcard before a shorter one', () => {
    expect(winner('shop.example.test', 'GET', '/orders/3')).toBe('*.example.test /orders/:id * {"id":"3"}');
    expect(winner('shop.eu.example.test', 'GET', '/orders/3')).toBe('*.eu.example.test /* * {}');
    expect(winner('example.test', 'GET', '/orders/3')).toBe('no_route');
  });

  it('decodes segments before matching, and matches parameters on decoded values', () => {
    expect(winner('orders.example.test', 'GET', '/orders/caf%C3%A9')).toBe('orders.example.test /orders/:id GET {"id":"café"}');
    expect(winner('orders.example.test', 'GET', '/orders/%6Eew')).toBe('orders.example.test /orders/new * {}');
  });

  it('never hands a method the winning path pattern refuses to a broader pattern', () => {
    const strict = createRouteTable([record('a.example.test', '/admin/*', { methods: ['GET'] }), record('a.example.test', '/*', { public: true, api: null })]);
    const found = strict.match('a.example.test', 'DELETE', segments('/admin/users'));
    expect(found).toEqual({ ok: false, reason: 'method' });
  });

  it('gives an empty named segment no match: /orders/ is no order', () => {
    const only = createRouteTable([record('a.example.test', '/orders/:id')]);
    expect(only.match('a.example.test', 'GET', segments('/orders/'))).toEqual({ ok: false, reason: 'no_route' });
  });

  it('leaves out a stored route it cannot read, and says how many', () => {
    const mixed = createRouteTable([record('a.example.test', '/ok'), record('a.example.test', 'no-slash')]);
    expect([mixed.size, mixed.skipped]).toEqual([1, 1]);
  });
});

describe('hosts as gateways report them', () => {
  it.each([
    ['Orders.Example.Test:8443', 'orders.example.test'],
    ['orders.example.test.', 'orders.example.test'],
    ['[::1]:443', '[::1]'],
    ['127.0.0.1', '127.0.0.1'],
  ])('%s is %s', (host, name) => expect(hostnameOf(host)).toBe(name));

  it.each(['orders example', 'a..b', '.a', 'a:b:c', ''])('%j is no host', (host) => expect(hostnameOf(host)).toBeUndefined());
});
