import { importJWK, SignJWT, type JWK } from 'jose';
import { systemClock, type Clock } from '../../core/clock.ts';

/**
 * The JWT the edge hands the upstream in X-Auth-Request-Identity. Its own `typ` (RFC 8725 §3.11)
 * keeps it from passing for an access token (`at+jwt`) or an ID token wherever those are
 * checked, though it is signed with the same keys and names the same audience.
 */
export const IDENTITY_TYP = 'gatehouse-identity+jwt';
/** At most a minute: the upstream verifies it at once, and a leaked one is soon worthless. */
export const IDENTITY_TTL_SECONDS = 60;
/** A signed identity is handed out again while it has at least this long to live. */
export const IDENTITY_REUSE_MARGIN_SECONDS = 30;

export interface IdentityClaims {
  sub: string;
  client_id: string;
  /** Space-separated, as in access tokens; empty for a signed-in browser. */
  scope: string;
  roles: string[];
  groups: string[];
  email?: string;
  /** RFC 8693: who acts for the subject, when the access token came from an exchange. */
  act?: Record<string, unknown>;
}

export interface SigningKey {
  /** The current private JWK of the algorithm chosen (keySet.signing lists each algorithm's current key first). */
  jwk: JWK;
  kid: string;
  alg: string;
}

interface Signed {
  kid: string;
  /** Milliseconds. */
  exp: number;
  jwt: Promise<string>;
}

/**
 * Signs identities and keeps each one, by the caller's cache key (a digest of the credential and
 * everything the claims depend on), for reuse while it has IDENTITY_REUSE_MARGIN_SECONDS left and
 * the signing key is still the current one. So a token presented again and again costs one
 * signature per half minute, and the cache holds no more than `maxEntries`.
 */
export function createIdentityTokens({
  issuer,
  signingKey,
  now = systemClock,
  maxEntries = 10_000,
}: {
  issuer: string;
  signingKey: () => SigningKey | undefined;
  now?: Clock;
  maxEntries?: number;
}) {
  const imported = new Map<string, ReturnType<typeof importJWK>>();
  const cache = new Map<string, Signed>();

  const keyFor = (key: SigningKey) => {
    let found = imported.get(key.kid);
    if (!found) {
      found = importJWK(key.jwk, key.alg) as ReturnType<typeof importJWK>;
      found.catch(() => imported.delete(key.kid));
      imported.set(key.kid, found);
      // Keys rotate a few times a year: a handful of entries, dropped oldest first.
      if (imported.size > 8) imported.delete(imported.keys().next().value!);
    }
    return found;
  };

  async function sign(key: SigningKey, audience: string, claims: IdentityClaims, iat: number, exp: number): Promise<string> {
    const payload = Object.fromEntries(Object.entries(claims).filter(([, value]) => value !== undefined));
    return new SignJWT(payload)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: IDENTITY_TYP })
      .setIssuer(issuer)
      .setAudience(audience)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(await keyFor(key));
  }

  return {
    /**
     * The identity for `claims` toward `audience`, signed now or reused. `notAfter` (seconds) is
     * when the credential behind it ends: the identity never outlives it.
     */
    issue(cacheKey: string, audience: string, claims: IdentityClaims, notAfter: number): Promise<string> {
      const key = signingKey();
      if (!key) return Promise.reject(new Error('no signing key'));
      const at = now();
      const cached = cache.get(cacheKey);
      // One that already lasts as long as the credential is reused to the end (less a second of leeway).
      if (
        cached &&
        cached.kid === key.kid &&
        (cached.exp - at >= IDENTITY_REUSE_MARGIN_SECONDS * 1000 || (cached.exp >= notAfter * 1000 && cached.exp - at >= 1000))
      )
        return cached.jwt;
      const iat = Math.floor(at / 1000);
      const exp = Math.min(iat + IDENTITY_TTL_SECONDS, notAfter);
      const jwt = sign(key, audience, claims, iat, exp);
      cache.delete(cacheKey);
      cache.set(cacheKey, { kid: key.kid, exp: exp * 1000, jwt });
      jwt.catch(() => cache.get(cacheKey)?.jwt === jwt && cache.delete(cacheKey));
      if (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
      return jwt;
    },
  };
}

export type IdentityTokens = ReturnType<typeof createIdentityTokens>;
