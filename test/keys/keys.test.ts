import { exportJWK, generateKeyPair } from 'jose';
import { randomBytes } from 'node:crypto';
import { createKeyEncryption } from '../../apps/core/keys/key-encryption.ts';
import { loadConfig } from '../../apps/core/config/config.ts';
import { createKeyService } from '../../apps/core/keys/key-service.ts';
import { createServices } from '../../apps/core/services.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { testSecrets } from '../support/server.ts';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t.drop());

const minutes = (n: number) => n * 60_000;

describe('signing keys', () => {
  let clock: number;
  const keys = () =>
    createKeyService({
      db: t.db,
      encryption: createKeyEncryption(randomBytes(32).toString('base64url')),
      activationDelaySeconds: 600,
      retainSeconds: 3600,
      now: () => clock,
    });

  beforeEach(async () => {
    clock = Date.parse('2030-01-01T00:00:00Z');
    await t.db.signingKey.deleteMany();
  });

  it('creates an RS256 and an ES256 key at first start, signing at once', async () => {
    const service = keys();
    expect(await service.ensureKeys()).toHaveLength(2);
    expect(await service.ensureKeys()).toHaveLength(0);
    const list = await service.list();
    expect(list.map((k) => [k.alg, k.state]).sort()).toEqual([
      ['ES256', 'current'],
      ['RS256', 'current'],
    ]);
  });

  it('lets two instances starting together on an empty database create one key per algorithm', async () => {
    await Promise.all([keys().ensureKeys(), keys().ensureKeys(), keys().ensureKeys()]);
    expect(await t.db.signingKey.count()).toBe(2);
  });

  it('stores private keys encrypted: no private JWK member is readable in the table', async () => {
    await keys().ensureKeys();
    const rows = await t.db.$queryRaw<Array<{ dump: string }>>`SELECT row_to_json(k)::text AS dump FROM signing_keys k`;
    for (const { dump } of rows) {
      expect(dump).not.toMatch(/\\"d\\"|\\"p\\"|\\"q\\"/);
      expect(JSON.parse(dump).public_jwk).not.toHaveProperty('d');
    }
  });

  it('refuses to decrypt a private key under another key-encryption key (GCM authentication fails)', async () => {
    await keys().ensureKeys();
    await expect(keys().keySet()).rejects.toThrow('Unsupported state or unable to authenticate data');
  });

  it('refuses a key whose stored public JWK is not the public half of its private key (public_jwk swapped by someone without the key-encryption key)', async () => {
    const service = keys();
    await service.ensureKeys();
    const [row] = await t.db.signingKey.findMany({ where: { alg: 'ES256' } });
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const theirs = { ...(await exportJWK(publicKey)), kid: row.id, alg: 'ES256', use: 'sig' };
    await t.db.signingKey.update({ where: { id: row.id }, data: { publicJwk: theirs } });
    await expect(service.keySet()).rejects.toThrow(`signing key ${row.id}: the stored public_jwk is not the public half of its private key`);
  });

  it('refuses a key whose kid is not the RFC 7638 thumbprint of the private key sealed under it', async () => {
    const encryption = createKeyEncryption(randomBytes(32).toString('base64url'));
    const service = createKeyService({ db: t.db, encryption, activationDelaySeconds: 600, retainSeconds: 3600, now: () => clock });
    await service.ensureKeys();
    const [row] = await t.db.signingKey.findMany({ where: { alg: 'ES256' } });
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const other = { ...(await exportJWK(privateKey)), kid: row.id, alg: 'ES256', use: 'sig' };
    await t.db.signingKey.update({ where: { id: row.id }, data: { encryptedPrivateJwk: encryption.encrypt(JSON.stringify(other), row.id) } });
    await expect(service.keySet()).rejects.toThrow(`signing key ${row.id}: its kid is not the RFC 7638 thumbprint of its ES256 key`);
  });

  it('publishes exactly the public members of each key, derived from its private key', async () => {
    const service = keys();
    await service.ensureKeys();
    const { published } = await service.keySet();
    expect(published.map((jwk) => Object.keys(jwk).sort())).toEqual(
      expect.arrayContaining([
        ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'],
        ['alg', 'e', 'kid', 'kty', 'n', 'use'],
      ]),
    );
  });

  it('publishes a rotated key as next, signs with it only after the delay, and keeps the old one until its tokens expire', async () => {
    const service = keys();
    await service.ensureKeys();
    const [oldRsa] = (await service.list()).filter((k) => k.alg === 'RS256');

    await service.rotate();
    let set = await service.keySet();
    const rsa = () => set.signing.filter((k) => k.alg === 'RS256');
    expect(rsa()).toHaveLength(2);
    // The current key leads: oidc-provider signs with the first key of an algorithm.
    expect(rsa()[0]).toMatchObject({ kid: oldRsa.kid, d: expect.any(String) });
    expect(rsa()[1].kid).not.toBe(oldRsa.kid);
    expect(set.published.filter((k) => k.alg === 'RS256')).toHaveLength(2);
    expect(set.published.every((k) => !('d' in k))).toBe(true);
    expect(set.nextChangeAt?.getTime()).toBe(clock + minutes(10));
    const before = set.version;

    clock += minutes(10) + 1;
    set = await service.keySet();
    expect(set.version).not.toBe(before);
    expect(rsa()[0].kid).not.toBe(oldRsa.kid);
    expect(rsa()[1].kid).toBe(oldRsa.kid);
    expect((await service.list()).find((k) => k.kid === oldRsa.kid)?.state).toBe('retired');

    clock += minutes(60);
    set = await service.keySet();
    expect(rsa()).toHaveLength(1);
    expect(set.published.some((k) => k.kid === oldRsa.kid)).toBe(false);
    expect(await service.sweep()).toBe(2);
  });
});

describe('sealing private keys with AES-256-GCM', () => {
  const encryption = createKeyEncryption(randomBytes(32).toString('base64url'));

  it('opens what it sealed under the same additional data', () => {
    expect(encryption.decrypt(encryption.encrypt('private jwk', 'kid-1'), 'kid-1')).toBe('private jwk');
  });

  it('refuses a sealed key whose authentication tag was truncated to 4 bytes (regression: the tag length was not pinned)', () => {
    const [iv, tag, ciphertext] = encryption.encrypt('private jwk', 'kid-1').split('.');
    const truncated = [iv, Buffer.from(tag, 'base64url').subarray(0, 4).toString('base64url'), ciphertext].join('.');
    expect(() => encryption.decrypt(truncated, 'kid-1')).toThrow('the authentication tag must be 16 bytes');
  });
});

describe('key retirement with APIs of their own token lifetime', () => {
  it('keeps a replaced key published for the longest API token lifetime, not only the default (regression)', async () => {
    await t.db.signingKey.deleteMany();
    const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: t.url, ACCESS_TOKEN_TTL: '3600', ID_TOKEN_TTL: '3600' });
    const { apis, keys } = createServices({ config, secrets: testSecrets(), db: t.db });
    await apis.create({ identifier: 'https://long-lived.example.test', scopes: ['read'], ttl: 86_400 });
    await keys.ensureKeys();
    const [before] = (await keys.list()).filter((k) => k.alg === 'ES256');
    await keys.rotate();
    const after = await keys.list();
    const retired = after.find((k) => k.kid === before.kid)!;
    const next = after.find((k) => k.alg === 'ES256' && k.state === 'next')!;
    expect((retired.expiresAt!.getTime() - next.activatesAt.getTime()) / 1000).toBe(86_400);
  });
});
