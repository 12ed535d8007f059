import type { Context, Next } from 'koa';
import type { InteractionResults } from 'oidc-provider';
import { AppError } from '../../core/errors.ts';
import { BodyTooLarge, readBody } from '../http/form-body.ts';
import { allowFormTargets } from '../http/page-security.ts';
import type { ProviderHost } from '../provider/host.ts';
import type { Views } from '../views.ts';
import type { Csrf } from './csrf.ts';

type Interaction = Awaited<ReturnType<ProviderHost['provider']['interactionDetails']>>;
type ProviderClient = NonNullable<Awaited<ReturnType<ProviderHost['provider']['Client']['find']>>>;

export interface InteractionState {
  form: Record<string, string>;
  interaction: Interaction;
  client: ProviderClient;
}

export type InteractionContext = Context & { state: InteractionState; params: Record<string, string> };

export interface InteractionDeps {
  host: ProviderHost;
  views: Views;
  csrf: Csrf;
}

const MAX_FORM_BYTES = 16 * 1024;

export const expired = () =>
  new AppError('interaction.expired', 'This sign-in page has expired or was opened in another browser. Go back to the application and start again.', {
    status: 400,
  });

/** Reads an urlencoded form body (at most 16 KiB); a repeated field is refused. */
export async function parseForm(ctx: InteractionContext, next: Next) {
  if (!ctx.is('application/x-www-form-urlencoded')) throw new AppError('interaction.bad_form', 'The form could not be read.', { status: 415 });
  let text: string;
  try {
    text = await readBody(ctx.req, MAX_FORM_BYTES);
  } catch (error) {
    if (error instanceof BodyTooLarge) throw new AppError('interaction.bad_form', 'The form was too large.', { status: 413 });
    throw error;
  }
  const form: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(text)) {
    if (name in form) throw new AppError('interaction.bad_form', 'The form could not be read.', { status: 400, detail: `repeated field ${name}` });
    form[name] = value;
  }
  ctx.state.form = form;
  await next();
}

/** The interaction the browser's cookie points at; it must be the one named in the path. */
export function loadInteraction({ host }: Pick<InteractionDeps, 'host'>) {
  return async function loadInteraction(ctx: InteractionContext, next: Next) {
    const provider = host.provider;
    let interaction: Interaction;
    try {
      interaction = await provider.interactionDetails(ctx.req, ctx.res);
    } catch (error) {
      if ((error as { name?: string }).name === 'SessionNotFound') throw expired();
      throw error;
    }
    if (interaction.uid !== ctx.params.uid) throw expired();
    const client = await provider.Client.find(String(interaction.params.client_id));
    if (!client) throw expired();
    ctx.state.interaction = interaction;
    ctx.state.client = client;
    allowFormTargets(ctx, [interaction.params.redirect_uri as string | undefined]);
    await next();
  };
}

export function requirePrompt(name: 'login' | 'consent') {
  return async function requirePrompt(ctx: InteractionContext, next: Next) {
    if (ctx.state.interaction.prompt.name !== name) throw expired();
    await next();
  };
}

export function checkCsrf({ csrf }: Pick<InteractionDeps, 'csrf'>) {
  return async function checkCsrf(ctx: InteractionContext, next: Next) {
    if (!csrf.verify(ctx.state.interaction.uid, ctx.state.form.csrf)) {
      throw new AppError('interaction.csrf', 'This form was not sent from the sign-in page it belongs to. Go back to the application and start again.', {
        status: 403,
      });
    }
    await next();
  };
}

/**
 * Hands the result back to oidc-provider and sends the browser on to the authorization endpoint.
 * Saves the interaction loadInteraction already read and checked, rather than calling
 * `provider.interactionResult`, which would read the interaction and its session again: the
 * same thing without `mergeWithLastSubmission`, and one or two fewer queries per form post.
 */
export async function finishInteraction(ctx: InteractionContext, result: InteractionResults) {
  const { interaction } = ctx.state;
  interaction.result = result;
  await interaction.persist();
  ctx.status = 303;
  ctx.redirect(interaction.returnTo);
}
