import * as client from 'openid-client';
import { createCookieJar } from '../support/cookie-jar.ts';
import { authorizationRequest, PASSWORD, signIn, ssoFixtures } from '../support/sso.ts';
import { basic, clientCredentials, decodeJwt, postForm, startM2m, type M2mFixture } from '../support/m2m.ts';

const ORDERS = 'https://orders.example.test';
const LEDGER = 'https://ledger.example.test';

let f: M2mFixture;
let sso: ReturnType<typeof ssoFixtures>;
let ada: string;
let app: Awaited<ReturnType<ReturnType<typeof ssoFixtures>['createClient']>>;
let ordersServer: { clientId: string; clientSecret: string };

/** Signs Ada in through the login and consent pages; returns the tokens and the consent page seen. */
async function signInAda(resource: string | undefined, scope: string) {
  const request = await authorizationRequest(app.config, app.redirectUri, { scope, ...(resource && { resource }) });
  const { callback, pages } = await signIn(createCookieJar(), request.url, { email: 'ada@example.test', password: PASSWORD, consent: 'allow' });
  if (!callback) throw new Error(`sign-in stopped at ${pages.at(-1)?.url}`);
  const tokens = await client.authorizationCodeGrant(app.config, new URL(callback), {
    pkceCodeVerifier: request.verifier,
    expectedState: request.state,
    expectedNonce: request.nonce,
    idTokenExpected: true,
  });
  return { tokens, consent: pages.find((p) => p.html.includes('name="decision"'))?.html ?? '' };
}

beforeAll(async () => {
  // Every change made here is seen by the server at once.
  f = await startM2m({ AUTHZ_CACHE_TTL: '0' });
  sso = ssoFixtures(f.server);
  const { apis, authz } = f.services;
  await apis.create({ identifier: ORDERS, scopes: 'orders:read orders:write orders:delete' });
  await apis.create({ identifier: LEDGER, scopes: 'ledger:read', tokenFormat: 'opaque' });
  ({ id: ada } = await sso.createUser('ada@example.test'));
  app = await sso.createClient({ scope: 'openid profile email groups' });
  for (const identifier of [ORDERS, LEDGER]) await apis.grantClient({ clientId: app.clientId, identifier });
  ordersServer = await f.serviceClient();
  await apis.addResourceServer({ clientId: ordersServer.clientId, identifier: LEDGER });
  const { groups, roles } = authz.directory;
  await groups.create('managers');
  await groups.create('sales');
  await groups.addMember({ group: 'managers', user: ada });
  await groups.addMember({ group: 'sales', user: ada });
  await roles.create({ api: ORDERS, name: 'editor', scopes: 'orders:read orders:write' });
  await roles.create({ api: ORDERS, name: 'approver', scopes: 'orders:read' });
  await roles.create({ api: LEDGER, name: 'viewer', scopes: 'ledger:read' });
  await roles.assign({ api: ORDERS, role: 'editor', user: ada });
  await roles.assign({ api: ORDERS, role: 'approver', group: 'managers' });
  await roles.assign({ api: LEDGER, role: 'viewer', group: 'sales' });
});
afterAll(() => f?.close());

describe('roles and groups in access tokens (RFC 9068 §2.2.3.1)', () => {
  it("puts a user's roles on the token's API (direct and through groups) and their groups in a JWT access token", async () => {
    const { tokens } = await signInAda(ORDERS, 'openid orders:read');
    const { payload } = decodeJwt(tokens.access_token);
    expect(payload).toMatchObject({ sub: ada, aud: ORDERS, groups: ['managers', 'sales'] });
    expect([...payload.roles].sort()).toEqual(['approver', 'editor']);
  });

  it('shows them in the introspection of an opaque token', async () => {
    const { tokens } = await signInAda(LEDGER, 'openid ledger:read');
    const { json } = await postForm(`${f.server.issuer}/token/introspection`, new URLSearchParams({ token: tokens.access_token }), {
      authorization: basic(ordersServer.clientId, ordersServer.clientSecret),
    });
    expect(json).toMatchObject({ active: true, sub: ada, roles: ['viewer'], groups: ['managers', 'sales'] });
  });

  it("gives a client_credentials token the client's own roles, and none to a client without", async () => {
    const service = await f.serviceClient({ resources: [{ identifier: ORDERS }] });
    const plain = await f.serviceClient({ resources: [{ identifier: ORDERS }] });
    await f.services.authz.directory.roles.assign({ api: ORDERS, role: 'approver', client: service.clientId });
    const issued = await clientCredentials(f, service, { resource: ORDERS, scope: 'orders:read' });
    const bare = await clientCredentials(f, plain, { resource: ORDERS, scope: 'orders:read' });
    if (!issued.ok || !bare.ok) throw new Error('no token');
    expect(decodeJwt(issued.token.access_token).payload).toMatchObject({ sub: service.clientId, roles: ['approver'] });
    expect(decodeJwt(issued.token.access_token).payload.groups).toBeUndefined();
    expect(decodeJwt(bare.token.access_token).payload.roles).toBeUndefined();
  });

  it('leaves a removed role out of the next token', async () => {
    const { id: bob } = await sso.createUser('bob@example.test');
    await f.services.authz.directory.roles.assign({ api: ORDERS, role: 'editor', user: bob });
    const before = await signInAs('bob@example.test');
    await f.services.authz.directory.roles.unassign({ api: ORDERS, role: 'editor', user: bob });
    const after = await signInAs('bob@example.test');
    expect([decodeJwt(before).payload.roles, decodeJwt(after).payload.roles]).toEqual([['editor'], undefined]);
  });
});

async function signInAs(email: string) {
  const request = await authorizationRequest(app.config, app.redirectUri, { scope: 'openid orders:read', resource: ORDERS });
  const { callback } = await signIn(createCookieJar(), request.url, { email, password: PASSWORD, consent: 'allow' });
  const tokens = await client.authorizationCodeGrant(app.config, new URL(callback!), {
    pkceCodeVerifier: request.verifier,
    expectedState: request.state,
    expectedNonce: request.nonce,
    idTokenExpected: true,
  });
  return tokens.access_token;
}

describe('RBAC (api update --rbac on)', () => {
  it("narrows a user's token to the requested scopes their roles grant, and the consent page asks for no more", async () => {
    await f.services.apis.update({ identifier: ORDERS, rbac: true });
    try {
      const { tokens, consent } = await signInAda(ORDERS, 'openid orders:read orders:write orders:delete');
      expect(tokens.scope?.split(' ').sort()).toEqual(['orders:read', 'orders:write']);
      expect(decodeJwt(tokens.access_token).payload.scope.split(' ').sort()).toEqual(['orders:read', 'orders:write']);
      expect(consent).toContain('orders:write');
      expect(consent).not.toContain('orders:delete');
    } finally {
      await f.services.apis.update({ identifier: ORDERS, rbac: false });
    }
  });

  it('gives the same request every scope the client may have when RBAC is off', async () => {
    const { tokens } = await signInAda(ORDERS, 'openid orders:read orders:write orders:delete');
    expect(decodeJwt(tokens.access_token).payload.scope.split(' ').sort()).toEqual(['orders:delete', 'orders:read', 'orders:write']);
  });
});

describe('the groups scope', () => {
  // OIDC Core 5.4: with response_type=code, scope claims go to UserInfo; the ID token carries
  // them when the claims parameter asks for them there.
  it('puts groups in the ID token when the claims parameter asks for them', async () => {
    const request = await authorizationRequest(app.config, app.redirectUri, { scope: 'openid groups', claims: JSON.stringify({ id_token: { groups: null } }) });
    const { callback } = await signIn(createCookieJar(), request.url, { email: 'ada@example.test', password: PASSWORD, consent: 'allow' });
    const tokens = await client.authorizationCodeGrant(app.config, new URL(callback!), {
      pkceCodeVerifier: request.verifier,
      expectedState: request.state,
      expectedNonce: request.nonce,
      idTokenExpected: true,
    });
    expect(tokens.claims()!.groups).toEqual(['managers', 'sales']);
  });

  it('puts groups in UserInfo when the client asks for groups, and not otherwise', async () => {
    const { tokens } = await signInAda(undefined, 'openid groups');
    const info = await client.fetchUserInfo(app.config, tokens.access_token, tokens.claims()!.sub);
    expect(info.groups).toEqual(['managers', 'sales']);
    const without = await signInAda(undefined, 'openid email');
    expect((await client.fetchUserInfo(app.config, without.tokens.access_token, without.tokens.claims()!.sub)).groups).toBeUndefined();
  });
});
