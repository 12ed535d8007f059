import { connect } from 'node:net';
import { fetchFrom } from '../support/local-address.ts';
import { ORDERS, ORDERS_HOST, nginxHeaders, startGateway, type GatewayFixture } from './gateway-fixture.ts';
import { json } from '../support/server.ts';

let f: GatewayFixture;
let token: string;

/** One request exactly as written (repeated headers and all), from `localAddress`; its status and body. */
function raw(port: number, head: string, localAddress = '127.0.0.1'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    let data = '';
    socket.on('data', (chunk) => (data += chunk));
    socket.on('error', reject);
    socket.on('end', () => resolve({ status: Number(data.split(' ')[1]), body: data.slice(data.indexOf('\r\n\r\n') + 4) }));
    socket.end(`${head.replace(/\n/g, '\r\n')}\r\nConnection: close\r\n\r\n`);
  });
}

const port = () => Number(new URL(f.server.url).port);
const ask = (uri: string, extra: Record<string, string> = {}) =>
  fetch(`${f.server.url}/edge/v1/auth-request`, { headers: { ...nginxHeaders('GET', uri), authorization: `Bearer ${token}`, ...extra } });

async function expectRefused(response: Response | Promise<Response>, reason?: string) {
  const answer = await response;
  expect(answer.status).toBe(403);
  const body = await json(answer);
  expect(body.error).toBe('access_denied');
  if (reason) expect(body.error_description).toBe(reason);
}

beforeAll(async () => {
  f = await startGateway({
    async setup(services) {
      await services.apis.create({ identifier: ORDERS, scopes: ['orders:read'] });
      await services.routes.add({ host: ORDERS_HOST, path: '/orders/*', api: ORDERS, scopes: ['orders:read'] });
      // What `..` would reach: a request must never be matched against this public route instead.
      await services.routes.add({ host: ORDERS_HOST, path: '/public/*', public: true });
    },
  });
  token = (await f.serviceToken(['orders:read'])).token;
});
afterAll(() => f?.close());

describe('the edge refuses bad original-request input with 403 access_denied, never a 500', () => {
  it('allows the well-formed request the cases below spoil', async () => {
    expect((await ask('/orders/1')).status).toBe(200);
  });

  it('missing X-Original-URI or X-Original-Method', async () => {
    await expectRefused(
      fetch(`${f.server.url}/edge/v1/auth-request`, {
        headers: { 'x-original-method': 'GET', 'x-original-host': ORDERS_HOST, authorization: `Bearer ${token}` },
      }),
      'the original URI is missing (x-original-uri)',
    );
    await expectRefused(
      fetch(`${f.server.url}/edge/v1/auth-request`, {
        headers: { 'x-original-uri': '/orders/1', 'x-original-host': ORDERS_HOST, authorization: `Bearer ${token}` },
      }),
      'the original method is missing (x-original-method)',
    );
  });

  it('conflicting (repeated) X-Original-Host, X-Original-Method or X-Original-URI headers', async () => {
    const base = `GET /edge/v1/auth-request HTTP/1.1\nHost: 127.0.0.1\nAuthorization: Bearer ${token}\nX-Original-Proto: https`;
    for (const head of [
      `${base}\nX-Original-Method: GET\nX-Original-URI: /orders/1\nX-Original-Host: ${ORDERS_HOST}\nX-Original-Host: admin.example.test`,
      `${base}\nX-Original-Method: GET\nX-Original-Method: DELETE\nX-Original-URI: /orders/1\nX-Original-Host: ${ORDERS_HOST}`,
      `${base}\nX-Original-Method: GET\nX-Original-URI: /orders/1\nX-Original-URI: /public/x\nX-Original-Host: ${ORDERS_HOST}`,
    ]) {
      const answer = await raw(port(), head);
      expect(answer.status).toBe(403);
      expect(JSON.parse(answer.body).error).toBe('access_denied');
    }
  });

  it('a host, method or scheme that is no such thing', async () => {
    await expectRefused(ask('/orders/1', { 'x-original-host': 'orders example' }), 'the original host is not a host name');
    await expectRefused(ask('/orders/1', { 'x-original-method': 'GE T' }), 'the original method is not an HTTP method');
    await expectRefused(ask('/orders/1', { 'x-original-proto': 'gopher' }), 'the original scheme is neither http nor https');
  });

  it('an absurdly long URI', async () => {
    await expectRefused(ask(`/orders/${'a'.repeat(5000)}`), 'the original request URI is longer than 4096 characters');
    await expectRefused(ask(`/orders/${'a/'.repeat(6000)}`));
  });

  it('path traversal, plain or encoded: /orders/../public/x is not matched as /public/x, nor as /orders/*', async () => {
    for (const uri of ['/orders/../public/x', '/orders/%2e%2e/public/x', '/orders/%2E%2E/public', '/orders/./1', '/orders/.%2e/public/x']) {
      await expectRefused(ask(uri), 'the original request path has a dot segment');
    }
  });

  it('encoded slashes and backslashes, and double encoding', async () => {
    await expectRefused(ask('/orders%2F1'), 'the original request path has an encoded slash');
    await expectRefused(ask('/orders/1%2f..%2fpublic'), 'the original request path has an encoded slash');
    await expectRefused(ask('/orders/1%5C..%5Cpublic'), 'the original request path has an encoded slash');
    await expectRefused(ask('/orders/%252e%252e/public'), 'the original request path is encoded twice');
  });

  it('empty segments, path parameters, malformed escapes, control characters and anything but a path', async () => {
    await expectRefused(ask('//orders/1'), 'the original request path has an empty segment (//)');
    await expectRefused(ask('/orders/1;jsessionid=x'), 'the original request path has a ; (path parameters are read differently by different servers)');
    await expectRefused(ask('/orders/%zz'), 'the original request path has a malformed percent-encoding');
    await expectRefused(ask('/orders/%c0%af'), 'the original request path has a malformed percent-encoding');
    await expectRefused(ask('/orders/%00'), 'the original request path encodes a control character');
    await expectRefused(ask('https://orders.example.test/orders/1'), 'the original request URI is not a path');
    await expectRefused(ask('*'), 'the original request URI is not a path');
    await expectRefused(ask('/orders/1 HTTP/1.1'), 'the original request URI has characters a URI may not hold');
  });

  it('a request no route matches', async () => {
    await expectRefused(ask('/invoices/1'), 'no route matches this request');
  });
});

describe('who may ask (EDGE_CALLERS)', () => {
  let narrow: GatewayFixture;
  beforeAll(async () => {
    // No routes at all: the table matches nothing.
    narrow = await startGateway({ env: { EDGE_CALLERS: '127.0.0.1' } });
  });
  afterAll(() => narrow?.close());

  it('refuses a caller outside EDGE_CALLERS with 403, whatever it sends (127.0.0.2 is loopback, but not listed)', async () => {
    const outsider = fetchFrom('127.0.0.2');
    try {
      for (const path of ['/edge/v1/auth-request', '/edge/v1/forward-auth', '/edge/v1/ext-authz/orders/1']) {
        const response = await outsider(`${narrow.server.url}${path}`, {
          headers: { ...nginxHeaders('GET', '/orders/1'), 'x-forwarded-for': '127.0.0.1', authorization: 'Bearer x' },
        });
        expect(response.status).toBe(403);
        expect(await json(response)).toEqual({ error: 'access_denied', error_description: 'this address may not ask for edge decisions (EDGE_CALLERS)' });
      }
    } finally {
      outsider.close();
    }
  });

  it('answers a listed caller, and denies with 403 when the route list matches nothing', async () => {
    await expectRefused(fetch(`${narrow.server.url}/edge/v1/auth-request`, { headers: nginxHeaders('GET', '/orders/1') }), 'no route matches this request');
  });
});
