import { basic, postForm, TOKEN_EXCHANGE, ACCESS_TOKEN_TYPE } from '../support/m2m.ts';
import { GATEWAY, LEDGER, ORDERS, startExchange, type ExchangeFixture } from './exchange-fixture.ts';

type Secret = { clientId: string; clientSecret: string };
let f: ExchangeFixture;
let ordersServer: Secret;

const exchange = (subjectToken: string) =>
  postForm(
    `${f.server.issuer}/token`,
    new URLSearchParams({ grant_type: TOKEN_EXCHANGE, subject_token: subjectToken, subject_token_type: ACCESS_TOKEN_TYPE, resource: ORDERS }),
    { authorization: basic(f.gateway.clientId, f.gateway.clientSecret) },
  );
const introspect = (token: string, as: Secret) =>
  postForm(`${f.server.issuer}/token/introspection`, new URLSearchParams({ token }), { authorization: basic(as.clientId, as.clientSecret) });
const refresh = (refreshToken: string) =>
  postForm(`${f.server.issuer}/token`, new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }), {
    authorization: basic(f.app.clientId, f.app.clientSecret),
  });

beforeAll(async () => {
  f = await startExchange();
  ordersServer = await f.serviceClient();
  await f.services.apis.addResourceServer({ clientId: ordersServer.clientId, identifier: ORDERS });
});
afterAll(() => f.close());

describe("a user's JWT access token dies with its grant (the gid claim)", () => {
  it('is inactive once refresh-token reuse has revoked the grant', async () => {
    const tokens = await f.userTokens(GATEWAY, { scope: 'openid offline_access orders:read' });
    expect((await introspect(tokens.access_token, f.gateway)).json.active).toBe(true);
    expect((await refresh(tokens.refresh_token!)).status).toBe(200);
    expect((await refresh(tokens.refresh_token!)).json.error).toBe('invalid_grant');
    expect((await introspect(tokens.access_token, f.gateway)).json).toEqual({ active: false });
  });

  it('is inactive once its user is disabled', async () => {
    const { id } = await f.createUser('disabled-later@example.com');
    const token = await f.userToken(GATEWAY, 'disabled-later@example.com');
    expect((await introspect(token, f.gateway)).json.active).toBe(true);
    await f.services.users.disable(id);
    // The CLI records the revocation in PostgreSQL; this instance reads it within REVOCATION_REFRESH_INTERVAL.
    const deadline = Date.now() + 5000;
    let active = true;
    while (active && Date.now() < deadline) {
      active = (await introspect(token, f.gateway)).json.active as boolean;
      if (active) await new Promise((r) => setTimeout(r, 50));
    }
    expect(active).toBe(false);
  });
});

describe("RFC 8693 exchanged tokens stay tied to the subject's grant (regression: they outlived it)", () => {
  it.each([
    ['an opaque subject token', LEDGER],
    ['a JWT subject token', GATEWAY],
  ])("an exchange of %s is inactive once refresh-token reuse has revoked the subject's grant", async (_what, resource) => {
    const tokens = await f.userTokens(resource, { scope: 'openid offline_access orders:read' });
    const exchanged = await exchange(tokens.access_token);
    expect(exchanged.status).toBe(200);
    const t2 = String(exchanged.json.access_token);
    expect((await introspect(t2, ordersServer)).json).toMatchObject({ active: true, sub: f.userId, act: { sub: f.gateway.clientId } });
    expect((await refresh(tokens.refresh_token!)).status).toBe(200);
    expect((await refresh(tokens.refresh_token!)).json.error).toBe('invalid_grant');
    expect((await introspect(t2, ordersServer)).json).toEqual({ active: false });
  });

  it('refuses a DPoP-bound subject token with invalid_grant rather than issue a bearer token for it', async () => {
    const tokens = await f.userTokens(GATEWAY, { dpop: true });
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    const { status, json } = await exchange(tokens.access_token);
    expect({ status, error: json.error }).toEqual({ status: 400, error: 'invalid_grant' });
  });
});
