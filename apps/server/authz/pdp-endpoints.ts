import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import Router from '@koa/router';
import type { AuditLog } from '../../core/audit/audit-log.ts';
import type { DecisionPoint, Evaluation } from '../../core/authz/decision-point.ts';
import { waitText } from '../../core/errors.ts';
import { requestScope, type RequestScope } from '../../core/request-context.ts';
import type { TokenVerifier } from '../../core/tokens/token-verifier.ts';
import { createProxyMatcher, resolveClientIp } from '../http/client-ip.ts';
import { single, writeJson, type EdgeDeps } from '../http/edge.ts';
import { answerOf, logError, problemBody } from '../http/errors.ts';
import { BodyTooLarge, readBody } from '../http/form-body.ts';
import type { FailureBudget } from '../http/rate-limit/rate-limits.ts';
import { recordRequest, requestIdFrom } from '../http/request-log.ts';
import { securityHeaderValues } from '../http/security-headers.ts';
import { paths } from '../paths.ts';
import { boxcar, evaluationSchema, evaluationsSchema, firstProblem, MAX_BODY_BYTES } from './evaluation-requests.ts';

/** The scope a caller's token must hold, for the API `<ISSUER>/access/v1`. */
export const EVALUATE_SCOPE = 'access:evaluate';
export const pdpApiIdentifier = (issuer: string) => `${issuer}${paths.accessApi}`;

export interface PdpDeps extends Pick<EdgeDeps, 'log' | 'trustedProxies' | 'https' | 'metrics'> {
  issuer: string;
  verifier: Pick<TokenVerifier, 'verify'>;
  decisions: Pick<DecisionPoint, 'evaluate' | 'evaluateMany'>;
  audit?: Pick<AuditLog, 'record'>;
  /** Failed bearer authentications per address: checked before a token is verified, spent on a 401 (http/rate-limit). */
  failures?: FailureBudget;
  /** The share of denials written to the audit trail (0 to 1). */
  auditDenials?: number;
  random?: () => number;
}

/** What one request is answered with: an AuthZEN answer (200) or an RFC 9457 problem. */
interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

type Kind = 'evaluation' | 'evaluations';
const kinds = new Map<string, Kind>([
  [paths.accessEvaluation, 'evaluation'],
  [paths.accessEvaluations, 'evaluations'],
]);
const PROBLEM = 'application/problem+json';
const mentionsApi = /\/access\/v1/i;

/**
 * An error that concerns the whole request, as an RFC 9457 problem (http/errors.ts); a denial is
 * never one (it is 200 {"decision": false}).
 */
const problem = (status: number, detail: string, headers?: Record<string, string>): Reply => ({
  status,
  body: problemBody({ status, code: 'access_evaluation_refused', description: detail }),
  headers,
});

/** AuthZEN's response: the decision, and in `context` what decided it (or why it could not be evaluated). */
const answer = (evaluation: Evaluation) => ({
  decision: evaluation.decision,
  ...((evaluation.reasons.length || evaluation.errors) && {
    context: {
      ...(evaluation.reasons.length && { reason_admin: { en: `${evaluation.decision ? 'permitted' : 'forbidden'} by ${evaluation.reasons.join(', ')}` } }),
      ...(evaluation.invalid ? { error: { status: 400, message: evaluation.invalid } } : evaluation.errors && { errors: evaluation.errors }),
    },
  }),
});

/** `application/json`, with or without parameters (a charset), in any case. */
const isJson = (contentType: string | undefined) => contentType?.split(';', 1)[0].trim().toLowerCase() === 'application/json';

/**
 * The policy decision point over HTTP: OpenID AuthZEN Authorization API 1.0, its access
 * evaluation and access evaluations (boxcar) endpoints and its metadata. Callers authenticate
 * with an access token for Gatehouse's own API `<ISSUER>/access/v1` holding `access:evaluate`.
 *
 * The two endpoints are answered before Koa, as the edge's decisions are (gateway/edge-endpoints.ts):
 * a service asks for every request it serves, and Koa's context, router and middleware chain
 * cost about as much as the decision itself. They get the same request id, security headers,
 * client address, log line and metrics. They are not counted against the per-address request
 * ceiling: a service asks from one address, and what a stranger can do here is present bad
 * tokens, which spend the address's client-authentication failure budget (`failures`).
 * The metadata document is an ordinary Koa route (`router`).
 */
export function createPdpEndpoints({
  issuer,
  verifier,
  decisions,
  failures,
  audit,
  auditDenials = 0,
  random = Math.random,
  log,
  trustedProxies,
  https = false,
  metrics,
}: PdpDeps) {
  const audience = pdpApiIdentifier(issuer);
  const realm = `Bearer realm="${audience}"`;
  const invalidToken = `${realm}, error="invalid_token"`;
  const isTrustedProxy = createProxyMatcher(trustedProxies);
  const baseHeaders = { ...securityHeaderValues({ https }), 'Cache-Control': 'no-store' };
  const metadata = {
    policy_decision_point: issuer,
    access_evaluation_endpoint: `${issuer}${paths.accessEvaluation}`,
    access_evaluations_endpoint: `${issuer}${paths.accessEvaluations}`,
  };

  /** The caller, or the 401/403 that refuses it. */
  async function authenticate(authorization: string | undefined, scope: RequestScope): Promise<Reply | undefined> {
    const match = authorization && /^Bearer\s+(\S+)$/i.exec(authorization);
    if (!match) return problem(401, `an access token for ${audience} is required`, { 'WWW-Authenticate': realm });
    const verified = await verifier.verify(match[1]);
    if (!verified.ok) return problem(401, `the access token is ${verified.reason}`, { 'WWW-Authenticate': invalidToken });
    const token = verified.token;
    // RFC 9449 §7.1: a sender-constrained token is no bearer token.
    if (token.jkt || token.x5t)
      return problem(401, 'a sender-constrained token must be presented with its proof, which this endpoint does not accept', {
        'WWW-Authenticate': invalidToken,
      });
    if (!token.audience.includes(audience)) return problem(401, `the access token is not for ${audience}`, { 'WWW-Authenticate': invalidToken });
    if (!token.scopes.includes(EVALUATE_SCOPE))
      return problem(403, `the access token lacks the ${EVALUATE_SCOPE} scope`, {
        'WWW-Authenticate': `${realm}, error="insufficient_scope", scope="${EVALUATE_SCOPE}"`,
      });
    scope.clientId = token.clientId;
    return undefined;
  }

  /** The body as JSON, or the 413/400 that refuses it. */
  async function readJson(req: IncomingMessage): Promise<{ json: unknown } | { refused: Reply }> {
    let text: string;
    try {
      text = await readBody(req, MAX_BODY_BYTES);
    } catch (error) {
      if (error instanceof BodyTooLarge) return { refused: problem(413, `the request body is larger than ${MAX_BODY_BYTES} bytes`, { Connection: 'close' }) };
      throw error;
    }
    try {
      return { json: JSON.parse(text) };
    } catch {
      return { refused: problem(400, 'the request body is not JSON') };
    }
  }

  function recordDenial(
    clientId: string,
    request: { subject: { type: string; id: string }; action: { name: string }; resource: { type: string; id: string } },
    evaluation: Evaluation,
  ) {
    if (evaluation.decision || !audit || auditDenials <= 0 || random() >= auditDenials) return;
    void audit.record({
      type: 'authz.denied',
      actor: `client:${clientId}`,
      clientId,
      details: {
        subject: request.subject,
        action: request.action.name,
        resource: request.resource,
        reasons: evaluation.reasons,
        ...(evaluation.errors && { errors: evaluation.errors }),
      },
    });
  }

  async function evaluateOne(body: unknown, clientId: string): Promise<Reply> {
    const parsed = evaluationSchema.safeParse(body);
    if (!parsed.success) return problem(400, firstProblem(parsed.error));
    const evaluation = await decisions.evaluate(parsed.data);
    if (evaluation.invalid) return problem(400, evaluation.invalid);
    recordDenial(clientId, parsed.data, evaluation);
    return { status: 200, body: answer(evaluation) };
  }

  async function evaluateMany(body: unknown, clientId: string): Promise<Reply> {
    const parsed = evaluationsSchema.safeParse(body);
    if (!parsed.success) return problem(400, firstProblem(parsed.error));
    const batch = boxcar(parsed.data);
    if ('problem' in batch) return problem(400, batch.problem);
    const results = await decisions.evaluateMany(batch.evaluations, batch.semantic);
    for (const [i, evaluation] of results.entries()) recordDenial(clientId, batch.evaluations[i], evaluation);
    return { status: 200, body: { evaluations: results.map(answer) } };
  }

  /** The steps in order: the failure budget, the caller's token, the media type, the body, the decision. */
  async function reply(kind: Kind, req: IncomingMessage, scope: RequestScope & { ip: string }): Promise<Reply> {
    if (req.method === 'OPTIONS') return { status: 204, body: undefined, headers: { Allow: 'POST' } };
    if (req.method !== 'POST') return problem(405, `${scope.path} takes POST`, { Allow: 'POST' });
    const allowed = failures?.check(scope.ip);
    if (allowed && !allowed.allowed)
      return problem(429, `too many requests with bad tokens from this address; retry after ${waitText(allowed.retryAfterSeconds)}`, {
        'Retry-After': String(allowed.retryAfterSeconds),
      });
    const refused = await authenticate(single(req.headers.authorization), scope);
    if (refused) {
      if (refused.status === 401) failures?.spend(scope.ip);
      return refused;
    }
    if (!isJson(single(req.headers['content-type']))) return problem(415, 'expected Content-Type: application/json');
    const read = await readJson(req);
    if ('refused' in read) return read.refused;
    return kind === 'evaluation' ? evaluateOne(read.json, scope.clientId!) : evaluateMany(read.json, scope.clientId!);
  }

  /** An error no step answered, logged and answered as the error model says (http/errors.ts): a client gone midway is a 400, an outage a 503. */
  function failed(error: unknown, path: string): Reply {
    const model = answerOf(error);
    logError(log, path, error, model);
    return problem(model.status, model.description ?? 'an unexpected error occurred', {
      ...(model.retryAfterSeconds !== undefined && { 'Retry-After': String(model.retryAfterSeconds) }),
    });
  }

  async function serve(kind: Kind, route: string, req: IncomingMessage, res: ServerResponse) {
    const started = performance.now();
    const ip = resolveClientIp(req.socket.remoteAddress ?? '', single(req.headers['x-forwarded-for']), isTrustedProxy);
    const scope: RequestScope & { ip: string } = {
      requestId: requestIdFrom(single(req.headers['x-request-id'])),
      path: route,
      ip,
      userAgent: single(req.headers['user-agent'])?.slice(0, 512) || undefined,
    };
    await requestScope.run(scope, async () => {
      let outcome: Reply;
      try {
        outcome = await reply(kind, req, scope);
      } catch (error) {
        outcome = failed(error, route);
      }
      const { status, body, headers } = outcome;
      const head = { 'X-Request-Id': scope.requestId, ...baseHeaders, ...headers };
      if (body === undefined) res.writeHead(status, head).end();
      else writeJson(res, status, head, body, status === 200 ? undefined : PROBLEM);
      const seconds = (performance.now() - started) / 1000;
      recordRequest(log, metrics, { method: req.method ?? 'POST', route, path: route, status, seconds, clientId: scope.clientId, ip });
    });
  }

  const router = new Router();
  router.get(paths.authzenMetadata, (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = metadata;
  });

  /** The endpoint a request target names, matched as Koa's router did: any case, a trailing slash, absolute form. */
  function kindOf(url: string): { kind: Kind; route: string } | undefined {
    let path = url;
    if (!path.startsWith('/')) {
      try {
        path = new URL(url).pathname;
      } catch {
        return undefined;
      }
    }
    const query = path.indexOf('?');
    if (query !== -1) path = path.slice(0, query);
    if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
    path = path.toLowerCase();
    const kind = kinds.get(path);
    return kind && { kind, route: path };
  }

  return {
    router,
    /** Answers the two endpoints and hands everything else to `next`. */
    listener(next: RequestListener): RequestListener {
      return function pdpFirst(req, res) {
        const url = req.url ?? '/';
        // Most requests leave here: their target does not mention the PDP's API.
        if (!mentionsApi.test(url)) return next(req, res);
        const target = kindOf(url);
        if (!target) return next(req, res);
        serve(target.kind, target.route, req, res).catch((error: unknown) => {
          log.error({ err: error }, 'unhandled error');
          res.destroy();
        });
      };
    },
  };
}
