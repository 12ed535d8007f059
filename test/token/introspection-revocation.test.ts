import { basic, clientCredentials, postForm, startM2m, type M2mFixture } from './m2m-fixture.ts';

const LEDGER = 'https://ledger.example.test';
const OTHER = 'https://other.example.test';

let f: M2mFixture;
let caller: { clientId: string; clientSecret: string };
let ledgerServer: { clientId: string; clientSecret: string };
let stranger: { clientId: string; clientSecret: string };

const opaqueToken = async () => {
  const result = await clientCredentials(f, caller, { resource: LEDGER, scope: 'ledger:read' });
  if (!result.ok) throw new Error(result.error);
  return result.token.access_token;
};
const introspect = (token: string, as: { clientId: string; clientSecret: string }) =>
  postForm(`${f.server.issuer}/token/introspection`, new URLSearchParams({ token }), { authorization: basic(as.clientId, as.clientSecret) });
const revoke = (token: string, as: { clientId: string; clientSecret: string }) =>
  postForm(`${f.server.issuer}/token/revocation`, new URLSearchParams({ token }), { authorization: basic(as.clientId, as.clientSecret) });

beforeAll(async () => {
  f = await startM2m();
  await f.services.apis.create({ identifier: LEDGER, scopes: ['ledger:read'], tokenFormat: 'opaque' });
  await f.services.apis.create({ identifier: OTHER, scopes: ['other:read'], tokenFormat: 'opaque' });
  caller = await f.serviceClient({ resources: [{ identifier: LEDGER }] });
  // The ledger service authenticates as a client allowed for its own API: that makes it its resource server.
  ledgerServer = await f.serviceClient({ resources: [{ identifier: LEDGER }] });
  stranger = await f.serviceClient({ resources: [{ identifier: OTHER }] });
});
afterAll(() => f.close());

describe('POST /token/introspection (RFC 7662)', () => {
  it('shows an opaque token as active, with audience, scope and client, to the resource server of its API', async () => {
    const { status, json } = await introspect(await opaqueToken(), ledgerServer);
    expect(status).toBe(200);
    expect(json).toMatchObject({ active: true, aud: LEDGER, scope: 'ledger:read', client_id: caller.clientId, iss: f.server.issuer, token_type: 'Bearer' });
  });

  it('shows the token to the client that holds it', async () => {
    expect((await introspect(await opaqueToken(), caller)).json.active).toBe(true);
  });

  it('answers active: false to a client that serves another API', async () => {
    const { status, json } = await introspect(await opaqueToken(), stranger);
    expect(status).toBe(200);
    expect(json).toEqual({ active: false });
  });

  it('answers active: false for an unknown token', async () => {
    expect((await introspect('no-such-token', ledgerServer)).json).toEqual({ active: false });
  });

  it('answers a caller that sends no client authentication with 400 invalid_request (oidc-provider\'s answer)', async () => {
    const { status, json } = await postForm(`${f.server.issuer}/token/introspection`, new URLSearchParams({ token: 'x' }));
    expect(status).toBe(400);
    expect(json.error).toBe('invalid_request');
  });

  it('answers a wrong secret with 401 invalid_client', async () => {
    const { status, json } = await introspect('x', { clientId: ledgerServer.clientId, clientSecret: 'wrong' });
    expect(status).toBe(401);
    expect(json.error).toBe('invalid_client');
  });
});

describe('POST /token/revocation (RFC 7009)', () => {
  it('lets the resource server of the API revoke a token, which then introspects inactive', async () => {
    const token = await opaqueToken();
    expect((await revoke(token, ledgerServer)).status).toBe(200);
    expect((await introspect(token, caller)).json).toEqual({ active: false });
  });

  it('ignores a revocation by a client that neither holds the token nor serves its API', async () => {
    const token = await opaqueToken();
    expect((await revoke(token, stranger)).status).toBe(200);
    expect((await introspect(token, caller)).json.active).toBe(true);
  });
});
