import { randomBytes } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { isJwt, type TokenVerifier, type VerifiedToken } from '../../core/tokens/token-verifier.ts';
import type { RevocationList } from '../../core/tokens/revocations.ts';
import { BodyTooLarge, readBody, PROVIDER_BODY_LIMIT } from '../http/form-body.ts';
import { paths } from '../paths.ts';
import { handBodyToProvider } from './internals.ts';

// No opaque token or code looks like this: oidc-provider's ids are nanoids (A-Za-z0-9_-).
const PREFIX = 'jwt~';

interface Held {
  payload: AdapterPayload;
  jti: string;
  exp: number;
}

const bearerModels = new Set(['AccessToken', 'ClientCredentials', 'RefreshToken']);

/** A verified JWT as the stored token oidc-provider would have kept, had it kept JWTs. */
function asStored(surrogate: string, token: VerifiedToken): AdapterPayload {
  return {
    jti: surrogate,
    kind: token.userId ? 'AccessToken' : 'ClientCredentials',
    ...(token.userId && { accountId: token.userId }),
    clientId: token.clientId,
    aud: token.audience.length === 1 ? token.audience[0] : token.audience,
    scope: token.scopes.join(' ') || undefined,
    iat: token.iat,
    exp: token.exp,
    ...(token.jkt && { jkt: token.jkt }),
    ...(token.x5t && { 'x5t#S256': token.x5t }),
    extra: { ...token.claims, ...(token.gid && { gid: token.gid }), ...(token.act && { act: token.act }) },
  } as AdapterPayload;
}

/**
 * RFC 7662 introspection and RFC 7009 revocation of JWT access tokens, through oidc-provider's
 * own endpoints. oidc-provider refuses structured tokens at both (`unsupported_token_type`), so a
 * JWT in the `token` parameter is verified here (signature, issuer, expiry, revocation list) and
 * replaced, for this request only, by a random handle that the bearer-token adapters answer
 * with the JWT's claims as a stored token. Everything else is oidc-provider's: client
 * authentication, the allowed policies, the response. Revoking the handle records the JWT's
 * `jti` in the revocation list, which every instance reads. A JWT that does not verify is
 * replaced by a handle that finds nothing: inactive, and its revocation a no-op (RFC 7009 §2.2).
 */
export function createStructuredTokens({ verifier, revocations }: { verifier: TokenVerifier; revocations: Pick<RevocationList, 'revokeToken'> }) {
  const held = new Map<string, Held>();
  const endpoints = new Set<string>([paths.introspection, paths.revocation]);

  async function substituteJwt(ctx: Context, next: Next) {
    if (ctx.method !== 'POST' || !endpoints.has(ctx.path) || !ctx.is('application/x-www-form-urlencoded')) return next();
    let text: string;
    try {
      text = await readBody(ctx.req, PROVIDER_BODY_LIMIT);
    } catch (error) {
      // oidc-provider's own answer to a body past its limit.
      if (error instanceof BodyTooLarge)
        return void Object.assign(ctx, { status: 400, body: { error: 'invalid_request', error_description: 'failed to parse the request body' } });
      throw error;
    }
    handBodyToProvider(ctx.req, text);
    const params = new URLSearchParams(text);
    const token = params.get('token');
    if (!token || params.getAll('token').length !== 1 || !isJwt(token)) return next();
    const surrogate = `${PREFIX}${randomBytes(18).toString('base64url')}`;
    const verified = await verifier.verify(token);
    if (verified.ok && verified.token.jti)
      held.set(surrogate, { payload: asStored(surrogate, verified.token), jti: verified.token.jti, exp: verified.token.exp });
    params.set('token', surrogate);
    handBodyToProvider(ctx.req, params.toString());
    try {
      await next();
    } finally {
      held.delete(surrogate);
    }
  }

  /** The bearer models' adapters answer handles from memory, and never ask storage about one. */
  function adapter(model: string, stored: Adapter): Adapter {
    if (!bearerModels.has(model)) return stored;
    return {
      ...stored,
      async find(id) {
        if (!id.startsWith(PREFIX)) return stored.find(id);
        const entry = held.get(id);
        return entry && entry.payload.kind === model ? entry.payload : undefined;
      },
      async destroy(id) {
        if (!id.startsWith(PREFIX)) return stored.destroy(id);
        const entry = held.get(id);
        if (entry) await revocations.revokeToken(entry.jti, entry.exp);
      },
    };
  }

  return { substituteJwt, adapter };
}

export type StructuredTokens = ReturnType<typeof createStructuredTokens>;
