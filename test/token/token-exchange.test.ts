import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startExampleApi } from '../../apps/example-api/example-api.ts';
import { ORDERS, GATEWAY, LEDGER, startExchange, type ExchangeFixture } from './exchange-fixture.ts';
import { ACCESS_TOKEN_TYPE, basic, decodeJwt, postForm, TOKEN_EXCHANGE, tokenExchange } from '../support/m2m.ts';

let f: ExchangeFixture;
let api: Awaited<ReturnType<typeof startExampleApi>>;

const exchange = (subjectToken: string, params: Record<string, string> = {}, as = f.gateway) =>
  tokenExchange(f, as, { subject_token: subjectToken, subject_token_type: ACCESS_TOKEN_TYPE, resource: ORDERS, scope: 'orders:read', ...params });

async function exchanged(subjectToken: string, params: Record<string, string> = {}, as = f.gateway) {
  const result = await exchange(subjectToken, params, as);
  if (!result.ok) throw new Error(`exchange failed: ${result.status} ${result.error}`);
  return result.token;
}

beforeAll(async () => {
  f = await startExchange();
  api = await startExampleApi({ issuer: f.server.issuer, audience: ORDERS });
});
afterAll(async () => {
  await api?.close();
  await f?.close();
});

describe('POST /token urn:ietf:params:oauth:grant-type:token-exchange (RFC 8693)', () => {
  it('advertises the grant type in discovery', () => {
    expect(f.as.grant_types_supported).toContain(TOKEN_EXCHANGE);
  });

  it("exchanges a signed-in user's JWT for API A for an API B token with the same sub, the narrowed scope and act naming the service", async () => {
    const subjectToken = await f.userToken(GATEWAY);
    const subject = decodeJwt(subjectToken).payload;
    expect(subject).toMatchObject({ sub: f.userId, aud: GATEWAY, scope: 'orders:read orders:write' });

    const token = await exchanged(subjectToken);
    expect(token).toMatchObject({ token_type: 'bearer', issued_token_type: ACCESS_TOKEN_TYPE, scope: 'orders:read' });

    const jwks = createRemoteJWKSet(new URL(f.as.jwks_uri!));
    const { payload, protectedHeader } = await jwtVerify(token.access_token, jwks, { issuer: f.server.issuer, audience: ORDERS, typ: 'at+jwt' });
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload).toMatchObject({ sub: f.userId, scope: 'orders:read', client_id: f.gateway.clientId, act: { sub: f.gateway.clientId } });
    expect(payload.exp!).toBeLessThanOrEqual(subject.exp);
    expect(token.expires_in).toBe(payload.exp! - payload.iat!);
  });

  it("gives API B a token it serves on the user's behalf, and refuses the scope the exchange narrowed away", async () => {
    const { access_token: token } = await exchanged(await f.userToken(GATEWAY));
    const read = await fetch(`${api.url}/orders`, { headers: { authorization: `Bearer ${token}` } });
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({ subject: f.userId, caller: f.gateway.clientId });

    const write = await fetch(`${api.url}/orders`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(write.status).toBe(403);
    expect(write.headers.get('www-authenticate')).toMatch(/error="insufficient_scope".*scope="orders:write"/);
  });

  it('exchanges an opaque subject token (an API that asks for opaque tokens) as well', async () => {
    const subjectToken = await f.userToken(LEDGER);
    expect(subjectToken.split('.')).toHaveLength(1);
    const token = await exchanged(subjectToken);
    expect(decodeJwt(token.access_token).payload).toMatchObject({ sub: f.userId, aud: ORDERS, scope: 'orders:read', act: { sub: f.gateway.clientId } });
  });

  it('grants every scope both the subject token and the policy allow when no scope is asked for', async () => {
    const token = await exchanged(await f.userToken(GATEWAY), { scope: '' });
    expect(token.scope).toBe('orders:read');
  });

  it("takes the one target of the client's policies when neither resource nor audience is given", async () => {
    const token = await exchanged(await f.userToken(GATEWAY), { resource: '' });
    expect(decodeJwt(token.access_token).payload.aud).toBe(ORDERS);
  });

  it('accepts the target as audience instead of resource', async () => {
    const token = await exchanged(await f.userToken(GATEWAY), { resource: '', audience: ORDERS });
    expect(decodeJwt(token.access_token).payload.aud).toBe(ORDERS);
  });

  it('issues an opaque token for a target that asks for opaque tokens, which introspects with the user as sub and act', async () => {
    const STOCK = 'https://stock.example.test';
    await f.services.apis.create({ identifier: STOCK, scopes: 'orders:read', tokenFormat: 'opaque' });
    await f.services.apis.allowExchange({ clientId: f.gateway.clientId, identifier: STOCK });
    const token = await exchanged(await f.userToken(GATEWAY), { resource: STOCK });
    expect(token.access_token.split('.')).toHaveLength(1);
    const { status, json } = await postForm(`${f.server.issuer}/token/introspection`, new URLSearchParams({ token: token.access_token }), {
      authorization: basic(f.gateway.clientId, f.gateway.clientSecret),
    });
    expect(status).toBe(200);
    expect(json).toMatchObject({
      active: true,
      sub: f.userId,
      aud: STOCK,
      scope: 'orders:read',
      client_id: f.gateway.clientId,
      act: { sub: f.gateway.clientId },
    });
  });

  it('nests act when the orders service exchanges its delegated token again, so the whole chain is named', async () => {
    const INVENTORY = 'https://inventory.example.test';
    await f.services.apis.create({ identifier: INVENTORY, scopes: 'orders:read' });
    const orders = await f.serviceClient({ grantTypes: [TOKEN_EXCHANGE] });
    await f.services.apis.addResourceServer({ clientId: orders.clientId, identifier: ORDERS });
    await f.services.apis.allowExchange({ clientId: orders.clientId, identifier: INVENTORY });

    const delegated = await exchanged(await f.userToken(GATEWAY));
    const again = await exchanged(delegated.access_token, { resource: INVENTORY }, orders);
    expect(decodeJwt(again.access_token).payload).toMatchObject({
      sub: f.userId,
      aud: INVENTORY,
      act: { sub: orders.clientId, act: { sub: f.gateway.clientId } },
    });
  });
});
