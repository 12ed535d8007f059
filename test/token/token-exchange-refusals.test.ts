import { generateKeyPair, SignJWT } from 'jose';
import { BILLING, GATEWAY, LEDGER, ORDERS, startExchange, type ExchangeFixture } from './exchange-fixture.ts';
import { ACCESS_TOKEN_TYPE, basic, clientCredentials, decodeJwt, postForm, signedByGatehouse, TOKEN_EXCHANGE, tokenExchange } from '../support/m2m.ts';
import { expectNoServerErrorInEachTest } from '../support/server.ts';

let f: ExchangeFixture;
let userToken: string;

const exchange = (params: Record<string, string>, as = f.gateway) =>
  tokenExchange(f, as, { subject_token: userToken, subject_token_type: ACCESS_TOKEN_TYPE, resource: ORDERS, scope: 'orders:read', ...params });
const refusal = (status: number, error: string) => ({ ok: false, status, error });

/** Asserts the exchange issued an ORDERS token for `sub` with the asked scope, acting for the gateway; its claims. */
function expectExchanged(result: Awaited<ReturnType<typeof exchange>>, sub = f.userId) {
  expect(result).toMatchObject({ ok: true, token: { issued_token_type: ACCESS_TOKEN_TYPE, scope: 'orders:read' } });
  const { payload } = decodeJwt(result.ok ? result.token.access_token : '');
  expect(payload).toMatchObject({ sub, aud: ORDERS, scope: 'orders:read', client_id: f.gateway.clientId, act: { sub: f.gateway.clientId } });
  return payload;
}

/** An access token for GATEWAY like the server's own, signed with its current ES256 key. */
const gatewayToken = (lifetime: { iat: number; exp: number }) =>
  signedByGatehouse(f, { scope: 'orders:read orders:write', client_id: 'app', aud: GATEWAY, sub: f.userId, jti: 'forged', ...lifetime });

beforeAll(async () => {
  f = await startExchange();
  userToken = await f.userToken(GATEWAY);
});
afterAll(() => f?.close());
// None of these refusals is logged as a server error.
expectNoServerErrorInEachTest(() => f.server);

describe('POST /token token-exchange: who may exchange towards what', () => {
  it('answers a client with no exchange policy at all with invalid_target', async () => {
    const lone = await f.serviceClient({ resources: [{ identifier: GATEWAY }], grantTypes: [TOKEN_EXCHANGE] });
    expect(await exchange({}, lone)).toMatchObject(refusal(400, 'invalid_target'));
  });

  it('answers a target the client has no policy for with invalid_target', async () => {
    expect(await exchange({ resource: BILLING })).toMatchObject(refusal(400, 'invalid_target'));
  });

  it('answers resource and audience naming different targets with invalid_target', async () => {
    expect(await exchange({ audience: BILLING })).toMatchObject(refusal(400, 'invalid_target'));
  });

  it('answers a client not registered for the grant type with unauthorized_client (RFC 6749 §5.2)', async () => {
    const plain = await f.serviceClient({ resources: [{ identifier: GATEWAY }] });
    await f.services.apis.allowExchange({ clientId: plain.clientId, identifier: ORDERS });
    expect(await exchange({}, plain)).toMatchObject(refusal(400, 'unauthorized_client'));
  });

  it('answers a scope beyond the exchange policy with invalid_scope', async () => {
    expect(await exchange({ scope: 'orders:read orders:write' })).toMatchObject(refusal(400, 'invalid_scope'));
  });

  it('answers a scope the policy allows but the subject token lacks with invalid_scope', async () => {
    expect(await exchange({ scope: 'orders:admin' })).toMatchObject(refusal(400, 'invalid_scope'));
  });
});

describe('POST /token token-exchange: the subject token', () => {
  it("answers an expired subject token (signed by Gatehouse's own key) with invalid_grant", async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(await exchange({ subject_token: await gatewayToken({ iat: now - 120, exp: now - 60 }) })).toMatchObject(refusal(400, 'invalid_grant'));
  });

  it('accepts the same token unexpired, so only the expiry made the difference', async () => {
    const now = Math.floor(Date.now() / 1000);
    const issued = expectExchanged(await exchange({ subject_token: await gatewayToken({ iat: now, exp: now + 60 }) }));
    // It does not outlive the subject token.
    expect(issued.exp).toBeLessThanOrEqual(now + 60);
  });

  it('answers a tampered subject token (scope widened, signature kept) with invalid_grant', async () => {
    const [header, payload, signature] = userToken.split('.');
    const claims = { ...JSON.parse(Buffer.from(payload, 'base64url').toString()), scope: 'orders:read orders:write orders:admin' };
    const tampered = [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join('.');
    expect(await exchange({ subject_token: tampered, scope: 'orders:admin' })).toMatchObject(refusal(400, 'invalid_grant'));
  });

  it('answers a subject token from another issuer with invalid_grant', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const foreign = await new SignJWT({ scope: 'orders:read', client_id: 'app' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'theirs' })
      .setIssuer('https://other-issuer.example.test')
      .setAudience(GATEWAY)
      .setSubject(f.userId)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    expect(await exchange({ subject_token: foreign })).toMatchObject(refusal(400, 'invalid_grant'));
  });

  it('answers a revoked opaque subject token with invalid_grant', async () => {
    const opaque = await f.userToken(LEDGER);
    expectExchanged(await exchange({ subject_token: opaque }));
    const revoked = await postForm(`${f.server.issuer}/token/revocation`, new URLSearchParams({ token: opaque }), {
      authorization: basic(f.app.clientId, f.app.clientSecret),
    });
    expect(revoked.status).toBe(200);
    expect(await exchange({ subject_token: opaque })).toMatchObject(refusal(400, 'invalid_grant'));
  });

  it('answers a JWT subject token of a user disabled since with invalid_grant', async () => {
    const { id } = await f.createUser('grace@example.com');
    const token = await f.userToken(GATEWAY, 'grace@example.com');
    expectExchanged(await exchange({ subject_token: token }), id);
    await f.services.users.disable(id);
    expect(await exchange({ subject_token: token })).toMatchObject(refusal(400, 'invalid_grant'));
  });

  it("answers a user's token for an API the client does not serve with invalid_grant", async () => {
    expect(await exchange({ subject_token: await f.userToken(BILLING) })).toMatchObject(refusal(400, 'invalid_grant'));
  });

  it("answers a client's own client_credentials token, which has no user to act for, with invalid_grant", async () => {
    const caller = await f.serviceClient({ resources: [{ identifier: GATEWAY }] });
    const result = await clientCredentials(f, caller, { scope: 'orders:read' });
    expect(result.ok).toBe(true);
    expect(await exchange({ subject_token: result.ok ? result.token.access_token : '' })).toMatchObject(refusal(400, 'invalid_grant'));
  });

  it('answers an unknown opaque subject token with invalid_grant', async () => {
    expect(await exchange({ subject_token: 'no-such-token' })).toMatchObject(refusal(400, 'invalid_grant'));
  });
});

describe('POST /token token-exchange: malformed requests', () => {
  it('answers a missing subject_token with invalid_request', async () => {
    expect(await tokenExchange(f, f.gateway, { subject_token_type: ACCESS_TOKEN_TYPE, resource: ORDERS })).toMatchObject(refusal(400, 'invalid_request'));
  });

  it('answers a missing or different subject_token_type with invalid_request', async () => {
    expect(await tokenExchange(f, f.gateway, { subject_token: userToken, resource: ORDERS })).toMatchObject(refusal(400, 'invalid_request'));
    expect(await exchange({ subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' })).toMatchObject(refusal(400, 'invalid_request'));
  });

  it('answers a requested token type other than an access token with invalid_request', async () => {
    expect(await exchange({ requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' })).toMatchObject(refusal(400, 'invalid_request'));
  });

  it('answers an actor_token (the authenticated client is the actor) with invalid_request', async () => {
    expect(await exchange({ actor_token: userToken, actor_token_type: ACCESS_TOKEN_TYPE })).toMatchObject(refusal(400, 'invalid_request'));
  });

  it('answers two resources with invalid_target, as client_credentials does', async () => {
    const params = [
      ['subject_token', userToken],
      ['subject_token_type', ACCESS_TOKEN_TYPE],
      ['resource', ORDERS],
      ['resource', BILLING],
    ];
    expect(await tokenExchange(f, f.gateway, params)).toMatchObject(refusal(400, 'invalid_target'));
  });
});
