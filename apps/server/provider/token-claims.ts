import { digest } from '../../core/digest.ts';

interface Inherited {
  /** RFC 8693 §4.1: who acts for the subject. */
  act?: Record<string, unknown>;
  /** The subject token's grant reference, which an exchanged token dies with. */
  gid?: string;
}

const inheritedBy = new WeakMap<object, Inherited>();

/** Claims a token takes from the token it was exchanged for, read back when it is saved. */
export const inheritClaims = (token: object, claims: Inherited) => inheritedBy.set(token, claims);

/**
 * oidc-provider's `extraTokenClaims` for access tokens (JWT claims, or `extra` of an opaque
 * token): `gid`, a reference to the grant (consent) the token was issued under, the digest of
 * its id as storage keeps it, so that revoking the grant (logout, refresh-token reuse, consent
 * revoked) revokes its JWTs too; and `act` for exchanged tokens.
 */
export function extraTokenClaims(token: object): Record<string, unknown> | undefined {
  const inherited = inheritedBy.get(token);
  const { grantId } = token as { grantId?: string };
  const gid = inherited?.gid ?? (grantId ? digest(grantId) : undefined);
  if (!gid && !inherited?.act) return undefined;
  return { ...(gid && { gid }), ...(inherited?.act && { act: inherited.act }) };
}
