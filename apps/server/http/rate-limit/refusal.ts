import type { Context } from 'koa';
import { RateLimited } from '../../../core/errors.ts';
import { answerOf, jsonBody, sendAnswer } from '../errors.ts';
import type { Views } from '../../views.ts';

/**
 * Answers 429 with Retry-After, through the error renderer (http/errors.ts): the "Too many
 * attempts" page (views/rate-limited.eta) where a person is, `{"error":"rate_limited"}` elsewhere.
 * Not logged: each refusal is counted and has its request line.
 */
export function refuseRateLimited(ctx: Context, retryAfterSeconds: number, views: Pick<Views, 'render'>): void {
  sendAnswer(ctx, answerOf(new RateLimited(retryAfterSeconds)), views);
}

export const rateLimitedBody = (retryAfterSeconds: number) => jsonBody(answerOf(new RateLimited(retryAfterSeconds)));
