import Router from '@koa/router';
import type { Next } from 'koa';
import type { UserService } from '../../core/users/user-service.ts';
import type { FailureBudget } from '../http/rate-limit/rate-limits.ts';
import { pageSecurityHeaders } from '../http/page-security.ts';
import { paths } from '../paths.ts';
import { createConsentHandlers } from './consent.ts';
import { createLoginHandlers } from './login.ts';
import { expired, loadInteraction, type InteractionContext, type InteractionDeps } from './steps.ts';

type Step = (ctx: InteractionContext, next: Next) => unknown;

/**
 * The sign-in pages oidc-provider sends the browser to: login, then consent. What their steps
 * throw is answered by the app's one error step (http/errors.ts), as a page to a browser.
 */
export function createInteractionRouter(deps: InteractionDeps & { users: UserService; loginFailures?: FailureBudget }) {
  const login = createLoginHandlers(deps);
  const consent = createConsentHandlers(deps);
  const chain = (...steps: Step[]) => steps as never[];

  async function showPrompt(ctx: InteractionContext, next: Next) {
    const steps = ({ login: login.showLogin, consent: consent.showConsent } as Record<string, Step[]>)[ctx.state.interaction.prompt.name];
    if (!steps) throw expired();
    const run = (i: number): Promise<unknown> => Promise.resolve(i < steps.length ? steps[i](ctx, () => run(i + 1)) : next());
    await run(0);
  }

  const router = new Router();
  router.get(paths.interaction, pageSecurityHeaders, ...chain(loadInteraction(deps), showPrompt));
  router.post(paths.interactionLogin, pageSecurityHeaders, ...chain(...(login.postLogin as Step[])));
  router.post(paths.interactionConsent, pageSecurityHeaders, ...chain(...(consent.postConsent as Step[])));
  return router;
}
