import { createCookieJar } from '../support/cookie-jar.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { field, formAction, decode, ssoFixtures, PASSWORD } from '../support/sso.ts';

// What reaches PostgreSQL as text must not hold NUL (SQLSTATE 22021), and no OAuth parameter
// holds a C0 control character or DEL legitimately.
const hostile = [
  ['NUL', '\u0000'],
  ['SOH', '\u0001'],
  ['ESC', '\u001b'],
  ['DEL', '\u007f'],
  ['an overlong NUL', '\ufffd'],
] as const;

let database: TestDatabase;
let server: TestServer;
let f: ReturnType<typeof ssoFixtures>;
let app: Awaited<ReturnType<ReturnType<typeof ssoFixtures>['createClient']>>;
let service: { clientId: string; clientSecret: string };

beforeAll(async () => {
  database = await createTestDatabase();
  server = await startTestServer({ databaseUrl: database.url, env: { RATE_LIMIT_ENABLED: 'false' } });
  f = ssoFixtures(server);
  await f.createUser('ada@example.com');
  app = await f.createClient();
  const created = await f.services.clients.create({ name: 'service', grantTypes: ['client_credentials'] });
  service = { clientId: created.clientId, clientSecret: created.clientSecret! };
});

afterAll(async () => {
  await server.close();
  await database.drop();
});

const form = (params: Record<string, string>) => new URLSearchParams(params).toString();
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const url = (path: string, query: Record<string, string> = {}) => `${server.url}${path}${Object.keys(query).length ? `?${new URLSearchParams(query)}` : ''}`;

/** A well-formed authorization request of the test's client, with `params` over it. */
const authorizationUrl = (params: Record<string, string> = {}) =>
  url('/auth', {
    client_id: app.clientId,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: app.redirectUri,
    code_challenge: 'x'.repeat(43),
    code_challenge_method: 'S256',
    ...params,
  });

/** Every request a client or a browser can aim at the endpoints, with `bad` in one place (built when sent). */
const requests = (bad: string): Array<[string, () => Promise<Response>]> => {
  const post =
    (path: string, params: Record<string, string>, headers: Record<string, string> = {}) =>
    () =>
      fetch(url(path), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: form(params) });
  const authorize = (params: Record<string, string>) => () => fetch(authorizationUrl(params), { redirect: 'manual', headers: { accept: 'text/html' } });
  return [
    ['GET /auth client_id', () => authorize({ client_id: bad })()],
    ['GET /auth redirect_uri', () => authorize({ redirect_uri: `${app.redirectUri}${bad}` })()],
    ['GET /auth scope', () => authorize({ scope: `openid${bad}` })()],
    ['GET /auth state', () => authorize({ state: bad })()],
    ['GET /auth login_hint', () => authorize({ login_hint: bad })()],
    ['GET /auth resource', () => authorize({ resource: `https://x.example${bad}` })()],
    ['POST /token client_id (post)', () => post('/token', { grant_type: 'client_credentials', client_id: bad, client_secret: 'x' })()],
    ['POST /token Basic user', () => post('/token', { grant_type: 'client_credentials' }, { authorization: basic(bad, 'x') })()],
    ['POST /token Basic secret', () => post('/token', { grant_type: 'client_credentials' }, { authorization: basic(service.clientId, bad) })()],
    ['POST /token grant_type', () => post('/token', { grant_type: bad }, { authorization: basic(service.clientId, service.clientSecret) })()],
    [
      'POST /token scope',
      () => post('/token', { grant_type: 'client_credentials', scope: bad }, { authorization: basic(service.clientId, service.clientSecret) })(),
    ],
    [
      'POST /token resource',
      () => post('/token', { grant_type: 'client_credentials', resource: bad }, { authorization: basic(service.clientId, service.clientSecret) })(),
    ],
    [
      'POST /token code',
      () =>
        post(
          '/token',
          { grant_type: 'authorization_code', code: bad, redirect_uri: app.redirectUri },
          { authorization: basic(app.clientId, app.clientSecret!) },
        )(),
    ],
    [
      'POST /token refresh_token',
      () => post('/token', { grant_type: 'refresh_token', refresh_token: bad }, { authorization: basic(app.clientId, app.clientSecret!) })(),
    ],
    ['POST /token/introspection token', () => post('/token/introspection', { token: bad }, { authorization: basic(service.clientId, service.clientSecret) })()],
    ['POST /token/introspection client_id', () => post('/token/introspection', { token: 'x', client_id: bad })()],
    ['POST /token/revocation token', () => post('/token/revocation', { token: bad }, { authorization: basic(service.clientId, service.clientSecret) })()],
    ['POST /token/revocation client_id', () => post('/token/revocation', { token: 'x', client_id: bad })()],
    ['POST /request client_id', () => post('/request', { client_id: bad, response_type: 'code', redirect_uri: app.redirectUri, scope: 'openid' })()],
    [
      'POST /request state',
      () =>
        post(
          '/request',
          { response_type: 'code', redirect_uri: app.redirectUri, scope: 'openid', state: bad, code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' },
          { authorization: basic(app.clientId, app.clientSecret!) },
        )(),
    ],
    [
      'POST /auth state',
      () =>
        post(
          '/auth',
          {
            client_id: app.clientId,
            response_type: 'code',
            redirect_uri: app.redirectUri,
            scope: 'openid',
            state: bad,
            code_challenge: 'x'.repeat(43),
            code_challenge_method: 'S256',
          },
          { accept: 'text/html' },
        )(),
    ],
    ['GET /me access_token', () => fetch(url('/me'), { headers: { authorization: `Bearer ${encodeURIComponent(bad)}` } })],
    ['GET /session/end client_id', () => fetch(url('/session/end', { client_id: bad }), { headers: { accept: 'text/html' } })],
    ['GET /session/end id_token_hint', () => fetch(url('/session/end', { id_token_hint: bad }), { headers: { accept: 'text/html' } })],
    [
      'GET /session/end post_logout_redirect_uri',
      () => fetch(url('/session/end', { client_id: app.clientId, post_logout_redirect_uri: bad }), { headers: { accept: 'text/html' } }),
    ],
    ['GET /interaction/:uid', () => fetch(url(`/interaction/${encodeURIComponent(bad)}`), { headers: { accept: 'text/html' } })],
    ['GET discovery with a query', () => fetch(url('/.well-known/openid-configuration', { x: bad }))],
  ];
};
const endpoints = requests('').map(([name]) => name);

describe.each(hostile)('%s in any parameter', (_name, bad) => {
  it.each(endpoints)('%s is answered without a server error', async (endpoint) => {
    const before = server.logs.length;
    const response = await requests(bad).find(([name]) => name === endpoint)![1]();
    await response.arrayBuffer();
    expect(response.status).toBeLessThan(500);
    expect(server.logs.slice(before).filter((line) => Number(line.level) >= 50)).toEqual([]);
  });

  it.each(['email', 'password'])("in the login form's %s is refused with the form's own 4xx page", async (name) => {
    const jar = createCookieJar();
    let response = await jar.fetch(authorizationUrl(), { headers: { accept: 'text/html' } });
    while (response.headers.get('location'))
      response = await jar.fetch(new URL(response.headers.get('location')!, server.url), { headers: { accept: 'text/html' } });
    const html = await response.text();
    const values: Record<string, string> = { email: 'ada@example.com', password: PASSWORD, [name]: `ada${bad}@example.com` };
    const before = server.logs.length;
    const answer = await jar.fetch(new URL(decode(formAction(html)!), server.url), {
      method: 'POST',
      headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
      body: form({ csrf: field(html, 'csrf')!, ...values }),
    });
    expect([400, 401]).toContain(answer.status);
    expect(await answer.text()).toMatch(/Enter your email and password\.|Invalid email or password\./);
    expect(server.logs.slice(before).filter((line) => Number(line.level) >= 50)).toEqual([]);
  });
});
