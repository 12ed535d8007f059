import { STATUS_CODES } from 'node:http';
import type { Context, Next } from 'koa';
import { errors, type Configuration } from 'oidc-provider';
import { isDatabaseUnavailable } from '../../core/db/database.ts';
import { AppError, DatabaseUnavailable, RateLimited, waitText } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { paths } from '../paths.ts';
import type { Views } from '../views.ts';

// Gatehouse's one error renderer. Whatever fails, the caller is told through here:
// - an AppError (core/errors.ts) shows its code and message; its detail only reaches the log;
// - oidc-provider's errors show their own code and description;
// - a database outage is 503 `temporarily_unavailable`, with Retry-After;
// - anything else is 500 `server_error`, and its stack goes to the log at error level.
// The answer is JSON (`{"error", "error_description"}`), a page from views/, or an RFC 9457
// problem where a route asks for one (the policy decision point).

/** What the caller is told about an error. */
export interface Answer {
  status: number;
  /** `error` in JSON. */
  code: string;
  /** `error_description` in JSON, `detail` in a problem. */
  description?: string;
  /** The description is written for people (an AppError's message), and a page shows it as it is. */
  forPeople?: boolean;
  retryAfterSeconds?: number;
}

const unexpected: Answer = { status: 500, code: 'server_error', description: 'an unexpected error occurred' };

const outage: Answer = {
  status: 503,
  code: 'temporarily_unavailable',
  description: DatabaseUnavailable.description,
  retryAfterSeconds: DatabaseUnavailable.retryAfterSeconds,
};

/** The error model: what each kind of error tells the caller. */
export function answerOf(error: unknown): Answer {
  if (isDatabaseUnavailable(error)) return outage;
  if (error instanceof AppError) {
    if (!error.expose) return unexpected;
    return {
      status: error.status,
      code: error.code,
      description: error.message,
      forPeople: true,
      retryAfterSeconds: error instanceof RateLimited ? error.retryAfterSeconds : undefined,
    };
  }
  if (error instanceof errors.OIDCProviderError) {
    return error.expose ? { status: error.statusCode, code: error.error, description: error.error_description } : unexpected;
  }
  // Koa's own (ctx.throw, a body parser): a status and a message meant to be shown, and no code.
  const { status, expose, message } = (error ?? {}) as { status?: unknown; expose?: unknown; message?: unknown };
  if (expose === true && typeof status === 'number' && status < 500) return { status, code: 'invalid_request', description: String(message) };
  return unexpected;
}

export const jsonBody = ({ code, description }: Answer) => ({ error: code, ...(description !== undefined && { error_description: description }) });

const problemTitles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** An RFC 9457 problem document for `answer` (its code is not part of it). */
export const problemBody = ({ status, description }: Answer) => ({
  type: 'about:blank',
  title: problemTitles[status] ?? STATUS_CODES[status] ?? 'Error',
  status,
  detail: description,
});

// The sign-in pages and oidc-provider's authorization and logout endpoints, where a person is.
const isPage = (path: string) =>
  path.startsWith(paths.interactionUrl('')) ||
  path === paths.authorization ||
  path.startsWith(`${paths.authorization}/`) ||
  path === paths.end_session ||
  path.startsWith(`${paths.end_session}/`);

/**
 * Whether the caller gets a page: on a page, unless it prefers JSON (oidc-provider renders its
 * authorization errors as pages whatever the Accept header says); anywhere else only when it
 * prefers HTML (oidc-provider's rule for its other endpoints, lib/shared/error_handler.js).
 */
const wantsPage = (ctx: Context) => (isPage(ctx.path) ? ctx.accepts('html', 'json') !== 'json' : ctx.accepts('json', 'html') === 'html');

/** Words for a person, for the protocol errors met in a browser; the description is meant for developers. */
const friendlyMessages: Record<string, string> = {
  invalid_request: 'The application sent an invalid sign-in request.',
  invalid_client: 'The application is not known here.',
  invalid_redirect_uri: 'The application asked to send you somewhere it is not allowed to.',
  access_denied: 'The request was declined.',
  login_required: 'You need to sign in first.',
  temporarily_unavailable: 'Sign-in is unavailable for a moment. Please try again shortly.',
  server_error: 'An unexpected error occurred. Please try again in a moment.',
};

function renderPage(ctx: Context, answer: Answer, views: Pick<Views, 'render'>) {
  if (answer.code === 'rate_limited' && answer.retryAfterSeconds !== undefined) {
    return views.render(ctx, 'rate-limited', { wait: waitText(answer.retryAfterSeconds) }, answer.status);
  }
  const shown = answer.status < 500;
  const message =
    answer.forPeople && shown
      ? answer.description
      : (friendlyMessages[answer.code] ?? (shown && answer.description ? answer.description : friendlyMessages.server_error));
  views.render(ctx, 'error', { title: 'Something went wrong', message, code: shown && !answer.forPeople ? answer.code : undefined }, answer.status);
}

function retryLater(ctx: Context, answer: Answer) {
  if (answer.retryAfterSeconds === undefined) return;
  ctx.set('Retry-After', String(answer.retryAfterSeconds));
  ctx.set('Cache-Control', 'no-store');
}

/** Writes `answer` as the response: a page or JSON, as wantsPage says. */
export function sendAnswer(ctx: Context, answer: Answer, views: Pick<Views, 'render'>) {
  retryLater(ctx, answer);
  if (wantsPage(ctx)) return renderPage(ctx, answer, views);
  ctx.status = answer.status;
  ctx.body = jsonBody(answer);
}

/** Writes `answer` as an RFC 9457 problem, for the routes that answer so (the policy decision point). */
export function sendProblem(ctx: Context, answer: Answer) {
  retryLater(ctx, answer);
  ctx.status = answer.status;
  ctx.type = 'application/problem+json';
  ctx.body = problemBody(answer);
}

export interface ErrorDeps {
  views: Pick<Views, 'render'>;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
}

/**
 * A refusal is logged at info with its code and the detail it carries for the log (never at
 * error); a database outage at warn; anything unexpected at error, with its stack.
 */
export function logError(log: ErrorDeps['log'], path: string, error: unknown, answer: Answer) {
  // Each one is counted (gatehouse_rate_limit_rejections_total) and has its request line.
  if (error instanceof RateLimited) return;
  if (answer === outage) return log.warn({ err: error, path }, 'database unreachable');
  if (answer === unexpected) {
    const app = error instanceof AppError ? { error: error.code, detail: error.detail } : {};
    return log.error({ err: error, ...app, path }, 'unhandled error');
  }
  // `error`, as in the answer: the logger censors every `code` (authorization codes).
  const detail = error instanceof AppError ? error.detail : (error as { error_detail?: string }).error_detail;
  log.info({ error: answer.code, detail, path }, 'request refused');
}

/** Logs `error` as the model says and answers it. */
function respond(ctx: Context, error: unknown, { views, log }: ErrorDeps) {
  const answer = answerOf(error);
  logError(log, ctx.path, error, answer);
  sendAnswer(ctx, answer, views);
}

/** The error step of Gatehouse's own routes. */
export function handleErrors(deps: ErrorDeps) {
  return async function handleErrors(ctx: Context, next: Next) {
    try {
      await next();
    } catch (error) {
      respond(ctx, error, deps);
    }
  };
}

/**
 * oidc-provider's `renderError`: its error handler has chosen the status, logged and built the
 * answer (`out`, with `state` and `iss` where they belong); this only picks the page or JSON.
 */
export function renderProviderError(views: Pick<Views, 'render'>): NonNullable<Configuration['renderError']> {
  return async function renderError(ctx, out) {
    if (!wantsPage(ctx)) {
      ctx.type = 'json';
      ctx.body = out;
      return;
    }
    renderPage(
      ctx,
      { status: ctx.status, code: String(out.error), description: out.error_description === undefined ? undefined : String(out.error_description) },
      views,
    );
  };
}

/** A whole HTTP/1.1 response, for a request Node refused to parse: no Accept header was read, so JSON. */
export function rawAnswer(error: AppError): string {
  const answer = answerOf(error);
  const body = JSON.stringify(jsonBody(answer));
  return `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

export async function notFoundJson(ctx: Context) {
  ctx.status = 404;
  ctx.body = { error: 'not_found', error_description: `no route for ${ctx.method} ${ctx.path}` };
}
