import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Client secrets are generated here (256 bits), shown once, and stored only as
 * HMAC-SHA-256 under a server-side pepper. They are high-entropy, so a fast keyed hash is
 * enough to make a stolen table useless, and the token endpoint stays fast (no argon2 here).
 */
export interface SecretHasher {
  generate(): string;
  hash(secret: string): string;
  matches(secret: string, storedHash: string): boolean;
}

export function createSecretHasher(pepper: string): SecretHasher {
  const hash = (secret: string) => createHmac('sha256', pepper).update(secret).digest('hex');
  return {
    generate: () => randomBytes(32).toString('base64url'),
    hash,
    matches(secret, storedHash) {
      const actual = Buffer.from(hash(secret), 'hex');
      const expected = Buffer.from(storedHash, 'hex');
      return actual.length === expected.length && timingSafeEqual(actual, expected);
    },
  };
}
