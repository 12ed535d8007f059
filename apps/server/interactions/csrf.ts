import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';

export interface Csrf {
  token(interactionUid: string): string;
  verify(interactionUid: string, candidate: unknown): boolean;
}

/**
 * CSRF tokens bound to one interaction: an HMAC of its uid under a key derived from the cookie
 * secret. Stateless, so any instance can check a token another one issued, and a token taken
 * from one sign-in never fits another.
 */
export function createCsrf(secret: string): Csrf {
  // A KeyObject: with a Buffer key, createHmac prepares the key anew on every call (11 µs, not 1.5).
  const key = createSecretKey(createHmac('sha256', secret).update('gatehouse/interaction-csrf/v1').digest());
  const token = (uid: string) => createHmac('sha256', key).update(uid).digest('base64url');
  return {
    token,
    verify(uid, candidate) {
      if (typeof candidate !== 'string') return false;
      const expected = Buffer.from(token(uid));
      const actual = Buffer.from(candidate);
      return actual.length === expected.length && timingSafeEqual(actual, expected);
    },
  };
}
