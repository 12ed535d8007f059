import { Agent, request } from 'node:http';
import { basic, clientCredentials, startM2m, type M2mFixture } from '../support/m2m.ts';
import { expectNoServerErrorInEachTest } from '../support/server.ts';

const ORDERS = 'https://orders.example.test';
const BILLING = 'https://billing.example.test';

let f: M2mFixture;
let client: { clientId: string; clientSecret: string };
// One kept-alive connection, so a request that leaves it unusable stalls the one after it.
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

interface Answer {
  status: number;
  body: string;
  json: Record<string, unknown>;
  reusedSocket: boolean;
}

/** A raw POST with client authentication; an array body is sent chunked (no Content-Length). */
function post(path: string, body: string | string[], contentType = 'application/x-www-form-urlencoded', headers: Record<string, string> = {}) {
  return new Promise<Answer>((resolve, reject) => {
    const req = request(
      `${f.server.issuer}${path}`,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': contentType, authorization: basic(client.clientId, client.clientSecret), ...headers },
        timeout: 5000,
      },
      (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => {
          let json = {};
          try {
            json = JSON.parse(text);
          } catch {
            /* not JSON: the assertion on json says so */
          }
          resolve({ status: res.statusCode!, body: text, json, reusedSocket: req.reusedSocket });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from POST ${path} within 5 s`)));
    req.on('error', reject);
    for (const chunk of Array.isArray(body) ? body : []) req.write(chunk);
    req.end(Array.isArray(body) ? undefined : body);
  });
}

const expectError = (answer: Answer, status: number, error: string) => {
  expect({ status: answer.status, error: answer.json.error }).toEqual({ status, error });
  expect(typeof answer.json.error_description).toBe('string');
};

beforeAll(async () => {
  // Rate limiting on, as in production: it reads the body of token requests too.
  f = await startM2m({ RATE_LIMIT_ENABLED: 'true' });
  await f.services.apis.create({ identifier: ORDERS, scopes: 'orders:read' });
  await f.services.apis.create({ identifier: BILLING, scopes: 'billing:read' });
  client = await f.serviceClient({ resources: [{ identifier: ORDERS }, { identifier: BILLING }] });
});
afterAll(async () => {
  agent.destroy();
  await f?.close();
});
// None of this bad input is logged as a server error.
expectNoServerErrorInEachTest(() => f.server);

describe.each([
  ['/token', 'grant_type=client_credentials&resource=https%3A%2F%2Forders.example.test', 'grant_type'],
  ['/token/introspection', 'token=some-token', 'token'],
  ['/token/revocation', 'token=some-token', 'token'],
])('POST %s with bad input', (path, form, repeatable) => {
  it('answers a JSON body with 400 invalid_request', async () => {
    expectError(await post(path, JSON.stringify(Object.fromEntries(new URLSearchParams(form))), 'application/json'), 400, 'invalid_request');
  });

  it('answers a text/plain body with 400 invalid_request', async () => {
    expectError(await post(path, form, 'text/plain'), 400, 'invalid_request');
  });

  it(`answers ${repeatable} given twice with 400 invalid_request`, async () => {
    expectError(await post(path, `${form}&${repeatable}=${new URLSearchParams(form).get(repeatable)}`), 400, 'invalid_request');
  });

  it('answers a 100 KB parameter with 400 invalid_request', async () => {
    expectError(await post(path, `${form}&${repeatable === 'token' ? 'token_type_hint' : 'scope'}=${'a'.repeat(100_000)}`), 400, 'invalid_request');
  });

  it('answers a 1 MB body with 400 invalid_request', async () => {
    expectError(await post(path, `${form}&pad=${'a'.repeat(1_000_000)}`), 400, 'invalid_request');
  });

  it('answers a 1 MB chunked body with 400 invalid_request, and the next request on the connection is answered (regression: the unread rest stalled it)', async () => {
    expectError(await post(path, [form, ...Array.from({ length: 100 }, () => `&pad=${'a'.repeat(10_000)}`)]), 400, 'invalid_request');
    const next = await post(path, form);
    expect(next.reusedSocket).toBe(true);
    expect(next.status).toBe(200);
  });
});

describe('POST /token authenticated in the body, with a body over the limit', () => {
  it('answers a chunked 100 KB form authenticated in the body with 400 invalid_request, and the connection stays usable', async () => {
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret, resource: ORDERS });
    const chunks = [`${form}&pad=`, ...Array.from({ length: 10 }, () => 'a'.repeat(10_000))];
    expectError(await post('/token', chunks, 'application/x-www-form-urlencoded', { authorization: '' }), 400, 'invalid_request');
    const next = await post('/token', form.toString(), 'application/x-www-form-urlencoded', { authorization: '' });
    expect(next.reusedSocket).toBe(true);
    expect(next.status).toBe(200);
  });
});

describe('POST /token with malformed or conflicting parameters', () => {
  it('answers a scope with a broken percent-encoding with 400 invalid_scope', async () => {
    expectError(await post('/token', 'grant_type=client_credentials&scope=orders%FFread'), 400, 'invalid_scope');
  });

  it('answers an unknown grant type with a broken percent-encoding with 400 unsupported_grant_type', async () => {
    expectError(await post('/token', 'grant_type=client%ZZcredentials'), 400, 'unsupported_grant_type');
  });

  it.each([
    ['refresh_token', 'grant_type=refresh_token&refresh_token=some-token'],
    ['authorization_code', 'grant_type=authorization_code&code=some-code&redirect_uri=https%3A%2F%2Frp.example.test%2Fcb'],
    [
      'token exchange',
      'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=x&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token',
    ],
  ])('answers a %s grant the client is not allowed with 400 unauthorized_client (RFC 6749 §5.2)', async (_grant, form) => {
    expectError(await post('/token', form), 400, 'unauthorized_client');
  });

  it('answers two different resources with 400 invalid_target', async () => {
    expectError(
      await post('/token', `grant_type=client_credentials&resource=${encodeURIComponent(ORDERS)}&resource=${encodeURIComponent(BILLING)}`),
      400,
      'invalid_target',
    );
  });
});

describe('POST /token/introspection and /token/revocation with a malformed token', () => {
  it('answers an undecodable token as inactive (RFC 7662 §2.2), not as an error', async () => {
    expect(await post('/token/introspection', 'token=%E0%A4%A&%zz')).toMatchObject({ status: 200, json: { active: false } });
  });

  it('answers its revocation with 200 and an empty body (RFC 7009 §2.2)', async () => {
    expect(await post('/token/revocation', 'token=%E0%A4%A&%zz')).toMatchObject({ status: 200, body: '' });
  });
});

describe('after all of that', () => {
  it('still issues tokens normally', async () => {
    expect(await clientCredentials(f, client, { resource: ORDERS, scope: 'orders:read' })).toMatchObject({ ok: true, token: { scope: 'orders:read' } });
  });
});
