import { basic, clientCredentials, postForm, startM2m, type M2mFixture } from '../support/m2m.ts';

const LEDGER = 'https://ledger.example.test';
const OTHER = 'https://other.example.test';

let f: M2mFixture;
let caller: { clientId: string; clientSecret: string };
let ledgerServer: { clientId: string; clientSecret: string };
let stranger: { clientId: string; clientSecret: string };
let otherCaller: { clientId: string; clientSecret: string };
let publicClient: string;

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
  // Another service that may call the ledger: calling an API does not make a client its resource server.
  otherCaller = await f.serviceClient({ resources: [{ identifier: LEDGER }] });
  // The ledger service itself: its own client, registered as the API's resource server.
  ledgerServer = await f.serviceClient();
  await f.services.apis.addResourceServer({ clientId: ledgerServer.clientId, identifier: LEDGER });
  stranger = await f.serviceClient({ resources: [{ identifier: OTHER }] });
  ({ clientId: publicClient } = await f.services.clients.create({
    name: 'spa',
    grantTypes: ['authorization_code'],
    authMethod: 'none',
    redirectUris: ['http://127.0.0.1:9/cb'],
  }));
  await f.services.apis.grantClient({ clientId: publicClient, identifier: LEDGER });
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

  // Regression (security review #5): "may call API X" was taken for "is API X".
  it("answers active: false to a client that is only allowed to call the token's API", async () => {
    expect((await introspect(await opaqueToken(), otherCaller)).json).toEqual({ active: false });
  });

  it("answers active: false to a public client of the token's API, which sends no secret at all", async () => {
    const { status, json } = await postForm(
      `${f.server.issuer}/token/introspection`,
      new URLSearchParams({ token: await opaqueToken(), client_id: publicClient }),
    );
    expect(status).toBe(200);
    expect(json).toEqual({ active: false });
  });

  it('answers active: false for an unknown token', async () => {
    expect((await introspect('no-such-token', ledgerServer)).json).toEqual({ active: false });
  });

  it("answers a caller that sends no client authentication with 400 invalid_request (oidc-provider's answer)", async () => {
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
  it('lets the client that holds a token revoke it, which then introspects inactive', async () => {
    const token = await opaqueToken();
    expect((await revoke(token, caller)).status).toBe(200);
    expect((await introspect(token, ledgerServer)).json).toEqual({ active: false });
  });

  // RFC 7009 §2.1: the server "verifies whether the token was issued to the client making the revocation request".
  it.each([
    ["the API's resource server", () => ledgerServer],
    ['another client allowed to call the API', () => otherCaller],
    ['a client of another API', () => stranger],
  ])('ignores a revocation by %s (200, and the token stays active)', async (_who, as) => {
    const token = await opaqueToken();
    expect((await revoke(token, as())).status).toBe(200);
    expect((await introspect(token, caller)).json.active).toBe(true);
  });

  it("ignores a revocation by a public client of the API (regression: it could revoke anyone's token)", async () => {
    const token = await opaqueToken();
    const { status } = await postForm(`${f.server.issuer}/token/revocation`, new URLSearchParams({ token, client_id: publicClient }));
    expect(status).toBe(200);
    expect((await introspect(token, caller)).json.active).toBe(true);
  });
});
