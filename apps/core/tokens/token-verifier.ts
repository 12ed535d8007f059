import { createLocalJWKSet, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWK, type JWTPayload } from 'jose';
import type { RevocationList } from './revocations.ts';
import { systemClock, type Clock } from '../clock.ts';
import { digest } from '../digest.ts';

/** An access token Gatehouse issued, checked: signature or storage, issuer, expiry, revocation. */
export interface VerifiedToken {
  format: 'jwt' | 'opaque';
  /** The JWT's `jti`; opaque tokens are their own id and never show it. */
  jti?: string;
  /** The user (a user's token) or the client (a client_credentials token). */
  sub: string;
  clientId: string;
  /** Set when the token acts for a user. */
  userId?: string;
  audience: string[];
  scopes: string[];
  /** Seconds since the epoch. */
  iat: number;
  exp: number;
  /** The grant the token was issued under (its reference), when it has one. */
  gid?: string;
  /** DPoP binding: the JWK thumbprint of the key every use must prove (RFC 9449). */
  jkt?: string;
  /** mTLS binding (RFC 8705). */
  x5t?: string;
  /** RFC 8693: who acts for the subject, when the token came from an exchange. */
  act?: Record<string, unknown>;
  /** Every other claim (roles, groups, ...). */
  claims: Record<string, unknown>;
}

export type Verification = { ok: true; token: VerifiedToken } | { ok: false; reason: 'malformed' | 'invalid' | 'expired' | 'revoked' };

/** What a stored (opaque) access token holds, as the provider's storage returns it. */
export interface StoredToken {
  kind: 'AccessToken' | 'ClientCredentials';
  jti: string;
  accountId?: string;
  clientId: string;
  aud?: string | string[];
  scope?: string;
  iat: number;
  exp: number;
  jkt?: string;
  'x5t#S256'?: string;
  extra?: Record<string, unknown>;
}

export interface PublishedKeys {
  /** Changes whenever the keys do. */
  version: string;
  keys: JWK[];
}

export interface TokenVerifierOptions {
  issuer: string;
  /** The keys JWKS publishes now. */
  publishedKeys: () => PublishedKeys;
  revocations: RevocationList;
  /** A stored access token by its value, or undefined (not found, or no longer valid). */
  findOpaque: (value: string) => Promise<StoredToken | undefined>;
  /** Verified JWTs kept, so a token seen again costs no signature check. */
  cacheSize?: number;
  now?: Clock;
}

const audiences = (aud: unknown): string[] => (Array.isArray(aud) ? aud.map(String) : typeof aud === 'string' ? [aud] : []);
const scopesOf = (scope: unknown) => (typeof scope === 'string' ? scope.split(' ').filter(Boolean) : []);
const standard = new Set(['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'client_id', 'scope', 'cnf', 'act', 'gid']);

export const isJwt = (value: string) => {
  if (value.split('.').length !== 3) return false;
  try {
    return !!decodeProtectedHeader(value);
  } catch {
    return false;
  }
};

function fromJwt(payload: JWTPayload): VerifiedToken {
  const clientId = String(payload.client_id);
  const sub = String(payload.sub);
  const cnf = (payload.cnf ?? {}) as { jkt?: string; 'x5t#S256'?: string };
  return {
    format: 'jwt',
    jti: payload.jti,
    sub,
    clientId,
    userId: sub !== clientId ? sub : undefined,
    audience: audiences(payload.aud),
    scopes: scopesOf(payload.scope),
    iat: payload.iat!,
    exp: payload.exp!,
    gid: typeof payload.gid === 'string' ? payload.gid : undefined,
    jkt: cnf.jkt,
    x5t: cnf['x5t#S256'],
    act: payload.act as Record<string, unknown> | undefined,
    claims: Object.fromEntries(Object.entries(payload).filter(([name]) => !standard.has(name))),
  };
}

function fromStored(stored: StoredToken): VerifiedToken {
  const { gid, act, ...claims } = stored.extra ?? {};
  return {
    format: 'opaque',
    sub: stored.accountId ?? stored.clientId,
    clientId: stored.clientId,
    userId: stored.accountId,
    audience: audiences(stored.aud),
    scopes: scopesOf(stored.scope),
    iat: stored.iat,
    exp: stored.exp,
    gid: typeof gid === 'string' ? gid : undefined,
    jkt: stored.jkt,
    x5t: stored['x5t#S256'],
    act: act as Record<string, unknown> | undefined,
    claims,
  };
}

/**
 * The one access-token verifier: JWTs (RFC 9068) against the keys JWKS publishes, with
 * `typ: at+jwt`, this issuer, and expiry; opaque tokens from storage; both against the
 * revocation list. Whatever needs to know who a bearer is (introspection of JWTs, token
 * exchange, the policy decision point, the edge) asks this.
 */
export function createTokenVerifier({ issuer, publishedKeys, revocations, findOpaque, cacheSize = 10_000, now = systemClock }: TokenVerifierOptions) {
  let jwks: { version: string; set: ReturnType<typeof createLocalJWKSet> } | undefined;
  const keySet = () => {
    const { version, keys } = publishedKeys();
    if (jwks?.version !== version) jwks = { version, set: createLocalJWKSet({ keys }) };
    return jwks;
  };
  // Verified JWTs by digest, least recently used first; an entry holds for the key set it was checked against.
  const verified = new Map<string, { version: string; token: VerifiedToken }>();

  const live = (token: VerifiedToken): Verification => {
    if (token.exp * 1000 <= now()) return { ok: false, reason: 'expired' };
    if (revocations.isRevoked({ jti: token.jti, gid: token.gid, sub: token.userId, iat: token.iat })) return { ok: false, reason: 'revoked' };
    return { ok: true, token };
  };

  /** A JWT verified before against the keys published now, most recently used last. */
  function remembered(key: string, version: string): VerifiedToken | undefined {
    const cached = verified.get(key);
    if (!cached || cached.version !== version) return undefined;
    verified.delete(key);
    verified.set(key, cached);
    return cached.token;
  }

  async function verifyJwt(value: string, key: string, version: string, set: ReturnType<typeof createLocalJWKSet>): Promise<Verification> {
    try {
      const { payload } = await jwtVerify(value, set, {
        issuer,
        typ: 'at+jwt',
        algorithms: ['ES256', 'RS256'],
        requiredClaims: ['sub', 'client_id', 'exp', 'iat', 'jti'],
        currentDate: new Date(now()),
      });
      const token = fromJwt(payload);
      verified.set(key, { version, token });
      if (verified.size > cacheSize) verified.delete(verified.keys().next().value!);
      return live(token);
    } catch (error) {
      return { ok: false, reason: error instanceof joseErrors.JWTExpired ? 'expired' : 'invalid' };
    }
  }

  return {
    async verify(value: string): Promise<Verification> {
      if (typeof value !== 'string' || !value || value.length > 8192) return { ok: false, reason: 'malformed' };
      // Only JWTs are remembered; one seen before is answered before anything is decoded, since
      // gateways ask about the same tokens over and over. An opaque token goes to storage.
      if (value.split('.').length === 3) {
        const { version, set } = keySet();
        const key = digest(value);
        const known = remembered(key, version);
        if (known) return live(known);
        if (isJwt(value)) return verifyJwt(value, key, version, set);
      }
      const stored = await findOpaque(value);
      return stored ? live(fromStored(stored)) : { ok: false, reason: 'invalid' };
    },
  };
}

export type TokenVerifier = ReturnType<typeof createTokenVerifier>;
