import { createHmac, timingSafeEqual } from 'node:crypto';

/** What Koa's `cookies` calls on its `keys` option (keygrip's interface). */
export interface CookieSigner {
  sign(data: string): string;
  verify(data: string, digest: string): boolean;
  index(data: string, digest: string): number;
}

/**
 * Cookie signatures as keygrip makes them (HMAC-SHA1, base64url, the first key signs and every
 * key verifies), so cookies signed before stay valid. keygrip compares through tsscmp, which
 * draws a random key and computes two more HMACs per comparison; with several signed cookies
 * on every interaction request that was a measurable share of a login's CPU. A fixed-length
 * digest compared with timingSafeEqual is just as constant-time.
 */
export function cookieSigner(keys: string[]): CookieSigner {
  if (keys.length === 0) throw new Error('at least one cookie key is required');
  const digestOf = (data: string, key: string) => createHmac('sha1', key).update(data).digest('base64url');
  const index = (data: string, digest: string) => {
    const given = Buffer.from(String(digest));
    for (let i = 0; i < keys.length; i++) {
      const expected = Buffer.from(digestOf(data, keys[i]));
      if (given.length === expected.length && timingSafeEqual(given, expected)) return i;
    }
    return -1;
  };
  return {
    sign: (data) => digestOf(data, keys[0]),
    verify: (data, digest) => index(data, digest) > -1,
    index,
  };
}
