import type { EvaluationRequest } from '../../core/authz/decision-point.ts';
import type { SubjectRef } from '../../core/authz/subject-reader.ts';
import { digest } from '../../core/digest.ts';
import type { RouteMatch, RouteTable } from '../../core/gateway/route-table.ts';
import type { TokenVerifier, Verification, VerifiedToken } from '../../core/tokens/token-verifier.ts';
import type { ProofChecker } from './dpop-proof.ts';
import type { EdgeSession, EdgeSessions } from './edge-session.ts';
import type { IdentityClaims, IdentityTokens } from './identity-token.ts';
import type { OriginalRequest } from './original-request.ts';

/** What the directory (apps/core/authz's subject reader) knows of a subject; only these fields are read. */
export interface DirectorySubject {
  email?: string;
  groups: string[];
  roles: Array<{ api: string; name: string }>;
}

export interface DecisionEngineDeps {
  routes: () => RouteTable;
  verifier: Pick<TokenVerifier, 'verify'>;
  proofs: ProofChecker;
  identities: IdentityTokens;
  sessions: Pick<EdgeSessions, 'fromCookieHeader'>;
  /** The client a signed-in browser acts through (X-Auth-Request-Client-Id, `client_id`). */
  edgeClientId: string;
  /**
   * A fresh read of the subject's groups and roles (cached for a few seconds by the reader).
   * Without one, a token's own `roles` and `groups` claims (RFC 9068 §2.2.3.1) are used, and a
   * browser's edge session has none.
   */
  directory?: { read(ref: SubjectRef): Promise<DirectorySubject> };
  /** The policy decision point, for routes with --decide. Without one, such routes deny. */
  decide?: (request: EvaluationRequest) => Promise<{ decision: boolean }>;
}

/** The credentials of the original request, as the gateway passed them on. */
export interface Credentials {
  authorization?: string;
  dpop?: string;
  cookie?: string;
}

export type Challenge = 'Bearer' | 'DPoP';

export type Decision =
  | { kind: 'allow'; headers: Record<string, string> }
  | {
      kind: 'deny';
      status: 401 | 403;
      error: 'invalid_token' | 'insufficient_scope' | 'invalid_dpop_proof' | 'access_denied';
      description: string;
      challenge?: Challenge;
      realm?: string;
      scope?: string;
    }
  /** No credential at all on a --login route: the browser is to sign in. */
  | { kind: 'sign_in'; realm: string };

/** The identity headers, named as oauth2-proxy names them, so existing nginx configurations work unchanged. */
export const identityHeaderNames = [
  'X-Auth-Request-User',
  'X-Auth-Request-Email',
  'X-Auth-Request-Preferred-Username',
  'X-Auth-Request-Groups',
  'X-Auth-Request-Client-Id',
  'X-Auth-Request-Scope',
  'X-Auth-Request-Roles',
  'X-Auth-Request-Identity',
] as const;

// Every identity header on every allow, empty when there is nothing to say: Traefik and Envoy copy
// only the headers an answer has, so a header left out would let the client's own through.
const noIdentity = Object.freeze(Object.fromEntries(identityHeaderNames.map((name) => [name, ''])));

/** Header values are ASCII; anything else (a Unicode email) is percent-encoded, never a 500. */
const headerSafe = (value: string) => (/^[\x20-\x7e]*$/.test(value) ? value : value.replace(/[^\x20-\x7e]/gu, (c) => encodeURIComponent(c)));

const tokenPattern = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*)$/i;

const reasons: Record<Exclude<Verification, { ok: true }>['reason'], string> = {
  malformed: 'the access token is malformed',
  invalid: 'the access token is invalid',
  expired: 'the access token expired',
  revoked: 'the access token was revoked',
};

interface Caller {
  subject: SubjectRef;
  sub: string;
  clientId: string;
  scopes: string[];
  /** Seconds: when the credential ends. */
  exp: number;
  cacheKey: string;
  claims: Record<string, unknown>;
  act?: Record<string, unknown>;
  email?: string;
  preferredUsername?: string;
}

const stringList = (value: unknown) => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);

/**
 * One decision for all three adapters: the route (most specific match, deny when none), then the
 * credential (a bearer or DPoP access token through the one verifier, or on a --login route the
 * edge session), then audience, scopes, roles and the policy decision point, and on allow the
 * identity headers with a signed identity. 401 for anything wrong with the credential, 403 for
 * what it may not do (and for a request no route lets through); never another status.
 */
export function createDecisionEngine(deps: DecisionEngineDeps) {
  const { routes, verifier, proofs, identities, sessions, edgeClientId, directory, decide } = deps;

  const deny = (
    status: 401 | 403,
    error: Extract<Decision, { kind: 'deny' }>['error'],
    description: string,
    extra: Partial<Extract<Decision, { kind: 'deny' }>> = {},
  ): Decision => ({ kind: 'deny', status, error, description, ...extra });

  async function fromToken(
    original: OriginalRequest,
    match: RouteMatch,
    scheme: Challenge,
    value: string,
    proof: string | undefined,
  ): Promise<Caller | Decision> {
    const realm = match.route.api!;
    const invalid = (description: string, challenge: Challenge = scheme) => deny(401, 'invalid_token', description, { challenge, realm });
    const verified = await verifier.verify(value);
    if (!verified.ok) return invalid(reasons[verified.reason]);
    const token: VerifiedToken = verified.token;
    if (!token.audience.includes(realm)) return invalid('the access token is for another audience');
    if (token.jkt) {
      // RFC 9449 §7.1: a bound token is never a bearer token.
      if (scheme !== 'DPoP') return invalid('the access token is DPoP-bound: present it with the DPoP scheme and a proof', 'DPoP');
      const checked = await proofs(proof, {
        method: original.method,
        url: `${original.scheme}://${original.host}${original.path}`,
        accessToken: value,
        jkt: token.jkt,
      });
      if (!checked.ok) return deny(401, 'invalid_dpop_proof', checked.description, { challenge: 'DPoP', realm });
    } else if (scheme === 'DPoP') {
      return invalid('the access token is not DPoP-bound: present it with the Bearer scheme');
    }
    return {
      subject: token.userId ? { type: 'user', id: token.userId } : { type: 'client', id: token.clientId },
      sub: token.sub,
      clientId: token.clientId,
      scopes: token.scopes,
      exp: token.exp,
      // A JWT is named by its jti once verified; an opaque token by its digest, never by its value.
      cacheKey: token.jti ? `jwt:${token.jti}` : `opaque:${digest(value)}`,
      claims: token.claims,
      act: token.act,
      preferredUsername: typeof token.claims.preferred_username === 'string' ? token.claims.preferred_username : undefined,
      email: typeof token.claims.email === 'string' ? token.claims.email : undefined,
    };
  }

  const fromSession = (session: EdgeSession): Caller => ({
    subject: { type: 'user', id: session.sub },
    sub: session.sub,
    clientId: edgeClientId,
    scopes: [],
    exp: session.exp,
    // One sign-in: its Gatehouse session and the second it began.
    cacheKey: `session:${session.sid}:${session.iat}`,
    claims: {},
    email: session.email,
    preferredUsername: session.preferredUsername,
  });

  async function authorize(original: OriginalRequest, match: RouteMatch, caller: Caller): Promise<Decision> {
    const { route, params } = match;
    const api = route.api!;
    const realm = api;
    const missing = route.scopes.filter((scope) => !caller.scopes.includes(scope));
    if (missing.length)
      return deny(403, 'insufficient_scope', `this route needs the scope ${missing.join(' ')}`, { challenge: 'Bearer', realm, scope: route.scopes.join(' ') });

    const known = directory ? await directory.read(caller.subject) : undefined;
    const roles = known ? known.roles.filter((role) => role.api === api).map((role) => role.name) : stringList(caller.claims.roles);
    const groups = known ? known.groups : stringList(caller.claims.groups);
    const lacking = route.roles.filter((role) => !roles.includes(role));
    if (lacking.length) return deny(403, 'insufficient_scope', `this route needs the role ${lacking.join(' ')}`, { challenge: 'Bearer', realm });

    if (route.decide) {
      if (!decide) return deny(403, 'insufficient_scope', 'this route asks a policy decision point, and none is available', { challenge: 'Bearer', realm });
      const resourceId = route.decide.idParam ? params[route.decide.idParam] : original.path;
      const answer = await decide({
        subject: { type: caller.subject.type, id: caller.subject.id, properties: { client_id: caller.clientId, scope: caller.scopes.join(' ') } },
        action: { name: route.decide.action },
        resource: { type: route.decide.resourceType, id: resourceId },
        context: { method: original.method, host: original.hostname, path: original.path, route: route.id },
      });
      if (!answer.decision) return deny(403, 'insufficient_scope', 'the policy does not allow this request', { challenge: 'Bearer', realm });
    }

    const email = known?.email ?? caller.email;
    const claims: IdentityClaims = { sub: caller.sub, client_id: caller.clientId, scope: caller.scopes.join(' '), roles, groups, email, act: caller.act };
    // Everything the claims depend on besides the credential: a changed role or group is a new identity.
    const cacheKey = `${caller.cacheKey}\n${api}\n${roles.join(',')}\n${groups.join(',')}\n${email ?? ''}`;
    const identity = await identities.issue(cacheKey, api, claims, caller.exp);
    return {
      kind: 'allow',
      headers: {
        'X-Auth-Request-User': headerSafe(caller.sub),
        'X-Auth-Request-Email': headerSafe(email ?? ''),
        'X-Auth-Request-Preferred-Username': headerSafe(caller.preferredUsername ?? ''),
        'X-Auth-Request-Groups': headerSafe(groups.join(',')),
        'X-Auth-Request-Client-Id': headerSafe(caller.clientId),
        'X-Auth-Request-Scope': caller.scopes.join(' '),
        'X-Auth-Request-Roles': headerSafe(roles.join(',')),
        'X-Auth-Request-Identity': identity,
      },
    };
  }

  return {
    async decide(original: OriginalRequest, credentials: Credentials): Promise<Decision> {
      const found = routes().match(original.hostname, original.method, original.segments);
      if (!found.ok) return deny(403, 'access_denied', found.reason === 'method' ? 'no route takes this method here' : 'no route matches this request');
      const match = found.match;
      if (match.route.public) return { kind: 'allow', headers: noIdentity };
      const realm = match.route.api!;

      let caller: Caller | Decision;
      if (credentials.authorization !== undefined) {
        const presented = tokenPattern.exec(credentials.authorization);
        if (!presented) return deny(401, 'invalid_token', 'the Authorization header holds no Bearer or DPoP access token', { challenge: 'Bearer', realm });
        caller = await fromToken(original, match, presented[1].toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer', presented[2], credentials.dpop);
      } else if (match.route.login) {
        const session = await sessions.fromCookieHeader(credentials.cookie);
        if (!session) return { kind: 'sign_in', realm };
        caller = fromSession(session);
      } else {
        return deny(401, 'invalid_token', 'an access token is required', { challenge: 'Bearer', realm });
      }
      if ('kind' in caller) return caller;
      return authorize(original, match, caller);
    },
  };
}

export type DecisionEngine = ReturnType<typeof createDecisionEngine>;
