import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { AuditLog } from '../../core/audit/audit-log.ts';
import type { DecisionPoint, Evaluation } from '../../core/authz/decision-point.ts';
import { waitText } from '../../core/errors.ts';
import type { TokenVerifier, VerifiedToken } from '../../core/tokens/token-verifier.ts';
import { sendProblem } from '../http/errors.ts';
import { BodyTooLarge, readBody } from '../http/form-body.ts';
import type { FailureBudget } from '../http/rate-limit/rate-limits.ts';
import { paths } from '../paths.ts';
import { boxcar, evaluationSchema, evaluationsSchema, firstProblem, MAX_BODY_BYTES } from './evaluation-requests.ts';

/** The scope a caller's token must hold, for the API `<ISSUER>/access/v1`. */
export const EVALUATE_SCOPE = 'access:evaluate';
export const pdpApiIdentifier = (issuer: string) => `${issuer}${paths.accessApi}`;

export interface PdpDeps {
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

type PdpContext = Context & { state: { caller?: VerifiedToken; body?: unknown; clientIp: string } };

/**
 * An error that concerns the whole request, as an RFC 9457 problem (through http/errors.ts); a
 * denial is never one (it is 200 {"decision": false}).
 */
function problem(ctx: Context, status: number, detail: string, challenge?: string) {
  if (challenge) ctx.set('WWW-Authenticate', challenge);
  sendProblem(ctx, { status, code: 'access_evaluation_refused', description: detail });
}

/**
 * The policy decision point over HTTP: OpenID AuthZEN Authorization API 1.0, its access
 * evaluation and access evaluations (boxcar) endpoints and its metadata. Callers authenticate
 * with an access token for Gatehouse's own API `<ISSUER>/access/v1` holding `access:evaluate`.
 */
export function createPdpRouter({ issuer, verifier, decisions, failures, audit, auditDenials = 0, random = Math.random }: PdpDeps) {
  const audience = pdpApiIdentifier(issuer);
  const realm = `Bearer realm="${audience}"`;
  const metadata = {
    policy_decision_point: issuer,
    access_evaluation_endpoint: `${issuer}${paths.accessEvaluation}`,
    access_evaluations_endpoint: `${issuer}${paths.accessEvaluations}`,
  };

  async function limitFailures(ctx: PdpContext, next: Next) {
    const allowed = failures?.check(ctx.state.clientIp);
    if (allowed && !allowed.allowed) {
      ctx.set('Retry-After', String(allowed.retryAfterSeconds));
      return problem(ctx, 429, `too many requests with bad tokens from this address; retry after ${waitText(allowed.retryAfterSeconds)}`);
    }
    await next();
    if (ctx.status === 401) failures?.spend(ctx.state.clientIp);
  }

  async function authenticateCaller(ctx: PdpContext, next: Next) {
    const match = /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'));
    if (!match) return problem(ctx, 401, `an access token for ${audience} is required`, realm);
    const verified = await verifier.verify(match[1]);
    if (!verified.ok) return problem(ctx, 401, `the access token is ${verified.reason}`, `${realm}, error="invalid_token"`);
    const token = verified.token;
    // RFC 9449 §7.1: a sender-constrained token is no bearer token.
    if (token.jkt || token.x5t)
      return problem(
        ctx,
        401,
        'a sender-constrained token must be presented with its proof, which this endpoint does not accept',
        `${realm}, error="invalid_token"`,
      );
    if (!token.audience.includes(audience)) return problem(ctx, 401, `the access token is not for ${audience}`, `${realm}, error="invalid_token"`);
    if (!token.scopes.includes(EVALUATE_SCOPE))
      return problem(ctx, 403, `the access token lacks the ${EVALUATE_SCOPE} scope`, `${realm}, error="insufficient_scope", scope="${EVALUATE_SCOPE}"`);
    ctx.state.caller = token;
    await next();
  }

  async function readJson(ctx: PdpContext, next: Next) {
    if (!ctx.is('application/json')) return problem(ctx, 415, 'expected Content-Type: application/json');
    let text: string;
    try {
      text = await readBody(ctx.req, MAX_BODY_BYTES);
    } catch (error) {
      if (error instanceof BodyTooLarge) return problem(ctx, 413, `the request body is larger than ${MAX_BODY_BYTES} bytes`);
      throw error;
    }
    try {
      ctx.state.body = JSON.parse(text);
    } catch {
      return problem(ctx, 400, 'the request body is not JSON');
    }
    await next();
  }

  function recordDenial(
    ctx: PdpContext,
    request: { subject: { type: string; id: string }; action: { name: string }; resource: { type: string; id: string } },
    evaluation: Evaluation,
  ) {
    if (evaluation.decision || !audit || auditDenials <= 0 || random() >= auditDenials) return;
    void audit.record({
      type: 'authz.denied',
      actor: `client:${ctx.state.caller!.clientId}`,
      clientId: ctx.state.caller!.clientId,
      details: {
        subject: request.subject,
        action: request.action.name,
        resource: request.resource,
        reasons: evaluation.reasons,
        ...(evaluation.errors && { errors: evaluation.errors }),
      },
    });
  }

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

  async function evaluateOne(ctx: PdpContext) {
    const parsed = evaluationSchema.safeParse(ctx.state.body);
    if (!parsed.success) return problem(ctx, 400, firstProblem(parsed.error));
    const evaluation = await decisions.evaluate(parsed.data);
    if (evaluation.invalid) return problem(ctx, 400, evaluation.invalid);
    recordDenial(ctx, parsed.data, evaluation);
    ctx.body = answer(evaluation);
  }

  async function evaluateMany(ctx: PdpContext) {
    const parsed = evaluationsSchema.safeParse(ctx.state.body);
    if (!parsed.success) return problem(ctx, 400, firstProblem(parsed.error));
    const batch = boxcar(parsed.data);
    if ('problem' in batch) return problem(ctx, 400, batch.problem);
    const results = await decisions.evaluateMany(batch.evaluations, batch.semantic);
    for (const [i, evaluation] of results.entries()) recordDenial(ctx, batch.evaluations[i], evaluation);
    ctx.body = { evaluations: results.map(answer) };
  }

  const router = new Router();
  router.get(paths.authzenMetadata, (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = metadata;
  });
  router.post(paths.accessEvaluation, limitFailures, authenticateCaller, readJson, evaluateOne);
  router.post(paths.accessEvaluations, limitFailures, authenticateCaller, readJson, evaluateMany);
  return router;
}
