import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify, type JWK } from 'jose';
import { systemClock, type Clock } from '../../core/clock.ts';
import { digest } from '../../core/digest.ts';

/** What a DPoP proof must be for: the protected request and the token it accompanies. */
export interface ProofTarget {
  /** The original request's method and URL (the gateway's, not the edge call's). */
  method: string;
  url: string;
  accessToken: string;
  /** The token's `cnf.jkt`: the thumbprint of the key the proof must be signed with. */
  jkt: string;
}

export type ProofCheck = { ok: true } | { ok: false; description: string };

// oidc-provider binds tokens only to keys of these algorithms (its dPoPSigningAlgValues default).
export const DPOP_ALGORITHMS = ['ES256', 'Ed25519', 'EdDSA'];

const normalizedUrl = (value: unknown): string | undefined => {
  const url = typeof value === 'string' ? URL.parse(value) : null;
  if (!url) return undefined;
  url.search = '';
  url.hash = '';
  return url.href;
};

/**
 * RFC 9449 §4.3 checks of a DPoP proof presented with a bound access token at the edge:
 * `typ: dpop+jwt`, signed with the public key in its own header (jose's EmbeddedJWK refuses a
 * private one), `htm` and `htu` of the original request (RFC 3986 normalised, without query
 * and fragment), `iat` within `windowSeconds` of now, `ath` the token's SHA-256, and the key's
 * RFC 7638 thumbprint equal to the token's `cnf.jkt`. oauth4webapi checks the same inside
 * `validateJwtAccessToken` but exposes no proof check of its own, and the token itself must be
 * checked by Gatehouse's verifier, so the proof is checked here with jose.
 *
 * A proof's `jti` is refused a second time within its window (§11.1). The seen `jti`s are held
 * in this process: a proof replayed to another instance within the window is not caught there.
 */
export function createProofChecker({
  now = systemClock,
  windowSeconds = 60,
  maxRemembered = 100_000,
}: {
  now?: Clock;
  windowSeconds?: number;
  maxRemembered?: number;
} = {}) {
  const seen = new Map<string, number>();

  function remember(key: string, until: number): boolean {
    const at = now();
    const known = seen.get(key);
    if (known !== undefined && known > at) return false;
    if (seen.size >= maxRemembered) {
      for (const [k, expiry] of seen) if (expiry <= at) seen.delete(k);
      // Full of live proofs: refusing is the only answer that still catches every replay.
      if (seen.size >= maxRemembered) return false;
    }
    seen.set(key, until);
    return true;
  }

  return async function checkProof(proof: string | undefined, target: ProofTarget): Promise<ProofCheck> {
    const fail = (description: string): ProofCheck => ({ ok: false, description });
    // Two DPoP headers arrive joined with a comma, which no compact JWS holds (§4.3: exactly one).
    if (!proof) return fail('a DPoP-bound access token needs a DPoP proof');
    if (proof.length > 8192 || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(proof)) return fail('the DPoP proof is malformed');
    let payload: Record<string, unknown>;
    let jwk: JWK;
    try {
      const verified = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: DPOP_ALGORITHMS, currentDate: new Date(now()) });
      payload = verified.payload;
      jwk = verified.protectedHeader.jwk as JWK;
    } catch {
      return fail('the DPoP proof does not verify');
    }
    const { jti, htm, htu, iat, ath } = payload;
    if (typeof jti !== 'string' || !jti || jti.length > 256 || typeof iat !== 'number') return fail('the DPoP proof lacks jti or iat');
    const age = now() / 1000 - iat;
    if (Math.abs(age) > windowSeconds) return fail('the DPoP proof is not recent');
    if (htm !== target.method) return fail('the DPoP proof is for another method');
    const expected = normalizedUrl(target.url);
    if (!expected || normalizedUrl(htu) !== expected) return fail('the DPoP proof is for another URL');
    if (ath !== digest(target.accessToken)) return fail('the DPoP proof is for another access token');
    if ((await calculateJwkThumbprint(jwk)) !== target.jkt) return fail('the DPoP proof is signed with another key than the one the access token is bound to');
    if (!remember(`${target.jkt}:${jti}`, (iat + windowSeconds + 1) * 1000)) return fail('the DPoP proof was used before');
    return { ok: true };
  };
}

export type ProofChecker = ReturnType<typeof createProofChecker>;
