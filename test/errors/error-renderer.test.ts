import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import Koa from 'koa';
import { errors } from 'oidc-provider';
import { AppError, DatabaseUnavailable } from '../../apps/core/errors.ts';
import { createLogger } from '../../apps/core/logger.ts';
import { handleErrors } from '../../apps/server/http/errors.ts';
import { securityHeaders } from '../../apps/server/http/security-headers.ts';
import { createViews } from '../../apps/server/views.ts';

// The one error renderer (apps/server/http/errors.ts) as Gatehouse's own routes use it: a Koa
// app with the edge's headers and the error step, routes that throw each kind of error, and a
// real logger.

const logs: Array<Record<string, unknown>> = [];
let server: Server;
let url: string;

const thrown: Record<string, () => Error> = {
  '/refused': () => new AppError('thing.refused', 'That cannot be done here.', { status: 409, detail: 'row 42 is locked by a migration' }),
  '/interaction/some-uid/login': () => new AppError('interaction.bad_form', 'The form could not be read.', { status: 400, detail: 'repeated field email' }),
  '/protocol': () => new errors.InvalidTarget('no such resource server'),
  '/outage': () => new DatabaseUnavailable({ cause: new Error('connect ECONNREFUSED 127.0.0.1:5432'), reason: 'connect ECONNREFUSED 127.0.0.1:5432' }),
  '/unexpected': () => new TypeError('cannot read properties of undefined (reading "rows")'),
  '/internal-app-error': () => new AppError('keys.sealing_failed', 'The key could not be sealed.', { status: 500, detail: 'KEK length 31' }),
};

beforeAll(async () => {
  const app = new Koa();
  app.silent = true;
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) logs.push(JSON.parse(line));
      done();
    },
  });
  app.use(securityHeaders({ https: false }));
  app.use(handleErrors({ views: createViews(), log: createLogger({ level: 'debug', destination }) }));
  app.use((ctx) => {
    throw thrown[ctx.path]();
  });
  server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const get = (path: string, accept?: string) => fetch(`${url}${path}`, { headers: accept ? { accept } : {} });
const lineFor = (path: string) => logs.findLast((line) => line.path === path);

describe('an AppError', () => {
  it('is answered with its code and message as JSON, and its detail is logged at info with its code, never shown', async () => {
    const response = await get('/refused');
    expect(response.status).toBe(409);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const body = await response.text();
    expect(JSON.parse(body)).toEqual({ error: 'thing.refused', error_description: 'That cannot be done here.' });
    expect(body).not.toContain('row 42');
    expect(lineFor('/refused')).toMatchObject({ level: 30, msg: 'request refused', error: 'thing.refused', detail: 'row 42 is locked by a migration' });
  });

  it('is a page, with its message and neither its code nor its detail, for a caller that prefers HTML', async () => {
    const response = await get('/refused', 'text/html,application/xhtml+xml,*/*;q=0.8');
    expect(response.status).toBe(409);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await response.text();
    expect(html).toContain('That cannot be done here.');
    expect(html).not.toContain('thing.refused');
    expect(html).not.toContain('row 42');
  });

  it('is logged at error, with its stack, and answered as a bare server_error when its status is 5xx', async () => {
    const response = await get('/internal-app-error');
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ error: 'server_error', error_description: 'an unexpected error occurred' });
    expect(lineFor('/internal-app-error')).toMatchObject({
      level: 50,
      msg: 'unhandled error',
      error: 'keys.sealing_failed',
      detail: 'KEK length 31',
      err: { stack: expect.stringContaining('AppError') },
    });
  });
});

describe('JSON or a page', () => {
  it.each([
    ['no Accept header', undefined, 'application/json'],
    ['*/*', '*/*', 'application/json'],
    ['application/json', 'application/json', 'application/json'],
    ["a browser's Accept", 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', 'text/html'],
  ])('answers JSON unless the caller prefers HTML: %s', async (_label, accept, type) => {
    const response = await get('/refused', accept);
    expect(response.status).toBe(409);
    expect(response.headers.get('content-type')).toMatch(new RegExp(`^${type.replace('/', '\\/')}`));
  });

  it.each([
    ['no Accept header', undefined, 'text/html'],
    ['*/*', '*/*', 'text/html'],
    ['application/json', 'application/json', 'application/json'],
  ])('answers a page on a sign-in page unless the caller prefers JSON: %s', async (_label, accept, type) => {
    const response = await get('/interaction/some-uid/login', accept);
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(new RegExp(`^${type.replace('/', '\\/')}`));
    expect(await response.text()).not.toContain('repeated field');
  });
});

describe('other errors', () => {
  it('regression: an oidc-provider error keeps its own code (was turned into invalid_request)', async () => {
    const response = await get('/protocol');
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: 'invalid_target', error_description: 'no such resource server' });
    expect(lineFor('/protocol')).toMatchObject({ level: 30, error: 'invalid_target' });
  });

  it('answers a database outage with 503 temporarily_unavailable and Retry-After, logged at warn', async () => {
    const response = await get('/outage');
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(await response.json()).toEqual({ error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable, try again shortly' });
    expect(lineFor('/outage')).toMatchObject({ level: 40, msg: 'database unreachable' });
  });

  it('answers a database outage to a browser with a page that says to try again', async () => {
    const response = await get('/outage', 'text/html');
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(await response.text()).toContain('Please try again shortly.');
  });

  it('answers anything else with 500 server_error, shows nothing of it, and logs it at error with its stack', async () => {
    const response = await get('/unexpected');
    expect(response.status).toBe(500);
    const body = await response.text();
    expect(JSON.parse(body)).toEqual({ error: 'server_error', error_description: 'an unexpected error occurred' });
    expect(body).not.toContain('rows');
    expect(lineFor('/unexpected')).toMatchObject({
      level: 50,
      msg: 'unhandled error',
      err: { type: 'TypeError', stack: expect.stringContaining('TypeError') },
    });
  });

  it('never writes an error at error level for a refusal', () => {
    const refusals = ['/refused', '/interaction/some-uid/login', '/protocol'];
    expect(logs.filter((line) => refusals.includes(String(line.path)) && Number(line.level) >= 40)).toEqual([]);
  });
});
