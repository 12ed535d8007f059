import type { Next } from 'koa';
import { z } from 'zod';
import type { UserService } from '../../core/users/user-service.ts';
import { hasControlCharacter } from '../http/form-body.ts';
import type { FailureBudget } from '../http/rate-limit/rate-limits.ts';
import { refuseRateLimited } from '../http/rate-limit/refusal.ts';
import { paths } from '../paths.ts';
import { checkCsrf, finishInteraction, loadInteraction, parseForm, requirePrompt, type InteractionContext, type InteractionDeps } from './steps.ts';

export const loginBodySchema = z.object({
  email: z
    .string()
    .trim()
    .min(1)
    .max(320)
    .refine((email) => !hasControlCharacter(email)),
  password: z.string().min(1).max(1024),
});

const INVALID_CREDENTIALS = 'Invalid email or password.';

type LoginState = { login?: z.infer<typeof loginBodySchema>; userId?: string };

export function createLoginHandlers(deps: InteractionDeps & { users: UserService; loginFailures?: FailureBudget }) {
  const { views, csrf, users, loginFailures } = deps;

  function renderLogin(ctx: InteractionContext, options: { email?: string; error?: string; status?: number } = {}) {
    const { interaction, client } = ctx.state;
    views.render(
      ctx,
      'login',
      {
        action: paths.interactionLoginUrl(interaction.uid),
        csrf: csrf.token(interaction.uid),
        clientName: client.clientName ?? client.clientId,
        email: options.email ?? (interaction.params.login_hint as string | undefined) ?? '',
        error: options.error,
      },
      options.status,
    );
  }

  async function showLoginForm(ctx: InteractionContext) {
    renderLogin(ctx);
  }

  async function validateLoginBody(ctx: InteractionContext & { state: LoginState }, next: Next) {
    const parsed = loginBodySchema.safeParse(ctx.state.form);
    if (!parsed.success) return renderLogin(ctx, { email: ctx.state.form.email, error: 'Enter your email and password.', status: 400 });
    ctx.state.login = parsed.data;
    await next();
  }

  /**
   * An address that has spent its budget of failed passwords is answered 429 before anything of
   * the form is read: the budget exists to spare argon2 for people, not guessers.
   */
  async function checkFailureBudget(ctx: InteractionContext, next: Next) {
    const decision = loginFailures?.check(ctx.ip);
    if (decision && !decision.allowed) return refuseRateLimited(ctx, decision.retryAfterSeconds, views);
    await next();
  }

  /** Checks the password; a failure of any kind (unknown account, wrong password, locked) spends the address's budget. */
  async function verifyCredentials(ctx: InteractionContext & { state: LoginState }, next: Next) {
    const { email, password } = ctx.state.login!;
    const user = await users.verifyPassword(email, password, {
      ip: ctx.ip,
      userAgent: ctx.get('User-Agent') || undefined,
      clientId: ctx.state.client.clientId,
    });
    if (!user) {
      loginFailures?.spend(ctx.ip);
      return renderLogin(ctx, { email, error: INVALID_CREDENTIALS, status: 401 });
    }
    ctx.state.userId = user.id;
    await next();
  }

  async function finishLogin(ctx: InteractionContext & { state: LoginState }) {
    await finishInteraction(ctx, { login: { accountId: ctx.state.userId!, amr: ['pwd'] } });
  }

  return {
    showLogin: [showLoginForm],
    postLogin: [
      checkFailureBudget,
      parseForm,
      loadInteraction(deps),
      requirePrompt('login'),
      checkCsrf(deps),
      validateLoginBody,
      verifyCredentials,
      finishLogin,
    ],
  };
}
