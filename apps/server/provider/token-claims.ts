import type { KoaContextWithOIDC } from 'oidc-provider';
import { digest } from '../../core/digest.ts';
import type { SubjectRef } from '../../core/authz/subject-reader.ts';
import type { Authz } from '../../core/authz/authz.ts';

interface Inherited {
  /** RFC 8693 §4.1: who acts for the subject. */
  act?: Record<string, unknown>;
  /** The subject token's grant reference, which an exchanged token dies with. */
  gid?: string;
}

const inheritedBy = new WeakMap<object, Inherited>();

/** Claims a token takes from the token it was exchanged for, read back when it is saved. */
export const inheritClaims = (token: object, claims: Inherited) => inheritedBy.set(token, claims);

interface TokenModel {
  accountId?: string;
  clientId?: string;
  grantId?: string;
  aud?: string | string[];
  resourceServer?: { audience?: string };
}

const audienceOf = (token: TokenModel) => token.resourceServer?.audience ?? (typeof token.aud === 'string' ? token.aud : undefined);

/**
 * oidc-provider's `extraTokenClaims` for access tokens (JWT claims, or `extra` of an opaque token,
 * which introspection shows):
 * - `roles` (RFC 9068 §2.2.3.1): the subject's roles on the token's API, direct or through
 *   groups; a client_credentials token carries the client's own; `groups`: the user's groups.
 *   Both are left out when empty, and read through the subject reader's short cache.
 * - `gid`: a reference to the grant (consent) the token was issued under, the digest of its id
 *   as storage keeps it, so that revoking the grant (logout, refresh-token reuse, consent
 *   revoked) revokes its JWTs too.
 * - `act`, for exchanged tokens.
 */
export function createTokenClaims(subjects: Pick<Authz['subjects'], 'read'>) {
  return async function extraTokenClaims(_ctx: KoaContextWithOIDC, token: object): Promise<Record<string, unknown> | undefined> {
    const model = token as TokenModel;
    const inherited = inheritedBy.get(token);
    const gid = inherited?.gid ?? (model.grantId ? digest(model.grantId) : undefined);
    const claims: Record<string, unknown> = { ...(gid && { gid }), ...(inherited?.act && { act: inherited.act }) };
    const api = audienceOf(model);
    const ref: SubjectRef | undefined = model.accountId
      ? { type: 'user', id: model.accountId }
      : model.clientId
        ? { type: 'client', id: model.clientId }
        : undefined;
    if (api && ref) {
      const subject = await subjects.read(ref);
      const roles = subject.roles.filter((role) => role.api === api).map((role) => role.name);
      if (roles.length) claims.roles = roles;
      if (ref.type === 'user' && subject.groups.length) claims.groups = subject.groups;
    }
    return Object.keys(claims).length ? claims : undefined;
  };
}
