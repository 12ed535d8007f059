import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import { createRevocationQueries } from '../../apps/core/tokens/revocation-queries.ts';
import { createRevocationList, type RevocationList } from '../../apps/core/tokens/revocations.ts';
import { createTokenVerifier, type StoredToken } from '../../apps/core/tokens/token-verifier.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

const ISSUER = 'https://id.example.test';
let database: TestDatabase;
let revocations: RevocationList;
let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
let publicJwk: JWK;
let clock = Date.now();

const sign = (claims: Record<string, unknown> = {}, { typ = 'at+jwt', issuer = ISSUER, exp = Math.floor(clock / 1000) + 300 } = {}) =>
  new SignJWT({ client_id: 'client-1', scope: 'orders:read', ...claims })
    .setProtectedHeader({ alg: 'ES256', typ, kid: publicJwk.kid })
    .setIssuer(issuer)
    .setAudience('https://orders.example.test')
    .setSubject(String(claims.sub ?? 'client-1'))
    .setJti(String(claims.jti ?? crypto.randomUUID()))
    .setIssuedAt(Math.floor(clock / 1000))
    .setExpirationTime(exp)
    .sign(privateKey);

const stored = new Map<string, StoredToken>();
const verifier = () =>
  createTokenVerifier({
    issuer: ISSUER,
    publishedKeys: () => ({ version: 'v1', keys: [publicJwk] }),
    revocations,
    findOpaque: async (value) => stored.get(value),
    now: () => clock,
  });

beforeAll(async () => {
  database = await createTestDatabase();
  revocations = createRevocationList({ queries: createRevocationQueries(database.db), refreshSeconds: 3600, retainSeconds: () => 86_400, now: () => clock });
  const pair = await generateKeyPair('ES256');
  privateKey = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' };
});
afterAll(async () => {
  revocations.stop();
  await database.drop();
});

describe('the access-token verifier (core/tokens)', () => {
  it('accepts a JWT access token of this issuer and reads its claims', async () => {
    const result = await verifier().verify(await sign({ sub: 'user-1', gid: 'grant-ref', roles: ['editor'] }));
    expect(result).toMatchObject({
      ok: true,
      token: { format: 'jwt', sub: 'user-1', userId: 'user-1', clientId: 'client-1', scopes: ['orders:read'], gid: 'grant-ref', claims: { roles: ['editor'] } },
    });
  });

  it.each([
    ["typ JWT (an ID token's shape) signed with the right key", { typ: 'JWT' }],
    ['another issuer', { issuer: 'https://other.example.test' }],
  ])('refuses %s as invalid', async (_what, options) => {
    expect(await verifier().verify(await sign({}, options))).toEqual({ ok: false, reason: 'invalid' });
  });

  it('refuses an expired token as expired, also when it was verified before it expired', async () => {
    const v = verifier();
    const token = await sign({}, { exp: Math.floor(clock / 1000) + 60 });
    expect((await v.verify(token)).ok).toBe(true);
    clock += 61_000;
    try {
      expect(await v.verify(token)).toEqual({ ok: false, reason: 'expired' });
      expect(await verifier().verify(token)).toEqual({ ok: false, reason: 'expired' });
    } finally {
      clock -= 61_000;
    }
  });

  it('refuses a revoked jti, and a token of a revoked grant, even from its cache', async () => {
    const v = verifier();
    const byJti = await sign({ jti: 'revoked-jti' });
    const byGrant = await sign({ sub: 'user-2', gid: 'revoked-grant' });
    expect((await v.verify(byJti)).ok && (await v.verify(byGrant)).ok).toBe(true);
    await revocations.revokeToken('revoked-jti', Math.floor(clock / 1000) + 300);
    await revocations.revokeGrant('revoked-grant');
    expect(await v.verify(byJti)).toEqual({ ok: false, reason: 'revoked' });
    expect(await v.verify(byGrant)).toEqual({ ok: false, reason: 'revoked' });
  });

  it("refuses a revoked subject's tokens issued before the revocation, not those issued after", async () => {
    const before = await sign({ sub: 'user-3' });
    await revocations.revokeSubject('user-3');
    clock += 2000;
    try {
      const after = await sign({ sub: 'user-3' });
      expect(await verifier().verify(before)).toEqual({ ok: false, reason: 'revoked' });
      expect((await verifier().verify(after)).ok).toBe(true);
    } finally {
      clock -= 2000;
    }
  });

  it('reads an opaque token from storage, and refuses one storage does not know', async () => {
    stored.set('opaque-1', {
      kind: 'AccessToken',
      jti: 'opaque-1',
      accountId: 'user-4',
      clientId: 'client-1',
      aud: 'https://orders.example.test',
      scope: 'orders:read',
      iat: Math.floor(clock / 1000),
      exp: Math.floor(clock / 1000) + 60,
      extra: { gid: 'g4', act: { sub: 'svc' } },
    });
    expect(await verifier().verify('opaque-1')).toMatchObject({
      ok: true,
      token: { format: 'opaque', sub: 'user-4', userId: 'user-4', gid: 'g4', act: { sub: 'svc' } },
    });
    expect(await verifier().verify('opaque-2')).toEqual({ ok: false, reason: 'invalid' });
  });

  it('shares revocations between instances through PostgreSQL', async () => {
    const other = createRevocationList({ queries: createRevocationQueries(database.db), refreshSeconds: 3600, retainSeconds: () => 86_400, now: () => clock });
    try {
      await other.refresh();
      expect(other.isRevoked({ jti: 'shared-jti' })).toBe(false);
      await revocations.revokeToken('shared-jti', Math.floor(clock / 1000) + 300);
      await other.refresh();
      expect(other.isRevoked({ jti: 'shared-jti' })).toBe(true);
    } finally {
      other.stop();
    }
  });
});
