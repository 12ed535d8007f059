import type { Next } from 'koa';
import { z } from 'zod';
import { paths } from '../paths.ts';
import { checkCsrf, finishInteraction, loadInteraction, parseForm, requirePrompt, type InteractionContext, type InteractionDeps } from './steps.ts';

/** What each scope lets the application do, in the words the consent page shows. */
export const scopeDescriptions: Record<string, string> = {
  openid: 'Know who you are when you sign in',
  profile: 'See your name and basic profile',
  email: 'See your email address',
  address: 'See your postal address',
  phone: 'See your phone number',
  groups: 'See the groups you belong to',
  offline_access: 'Keep access while you are not using it',
};

const claimLabels: Record<string, string> = {
  name: 'name',
  given_name: 'first name',
  family_name: 'last name',
  email: 'email address',
  email_verified: 'whether your email is verified',
  phone_number: 'phone number',
  address: 'postal address',
  birthdate: 'birth date',
  locale: 'language',
  picture: 'picture',
  preferred_username: 'username',
};

const consentBodySchema = z.object({ decision: z.enum(['allow', 'deny']) });

interface ConsentDetails {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
}

export function createConsentHandlers(deps: InteractionDeps) {
  const { views, csrf, host } = deps;
  const isFirstParty = (ctx: InteractionContext) => (ctx.state.client as unknown as { first_party?: boolean }).first_party === true;

  /** Records what the prompt asked for in the person's grant for this client (one per client). */
  async function grantRequested(ctx: InteractionContext) {
    const { interaction } = ctx.state;
    const details = interaction.prompt.details as ConsentDetails;
    const { Grant } = host.provider;
    const grant = interaction.grantId
      ? await Grant.find(interaction.grantId)
      : new Grant({ accountId: interaction.session!.accountId, clientId: String(interaction.params.client_id) });
    if (!grant) throw new Error(`grant ${interaction.grantId} of interaction ${interaction.uid} not found`);
    if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
    if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
    const grantId = await grant.save();
    await finishInteraction(ctx, { consent: { grantId } });
  }

  async function skipConsentForFirstParty(ctx: InteractionContext, next: Next) {
    if (isFirstParty(ctx)) return grantRequested(ctx);
    await next();
  }

  async function showConsentForm(ctx: InteractionContext) {
    const { interaction, client } = ctx.state;
    const details = interaction.prompt.details as ConsentDetails;
    const scopes = (details.missingOIDCScope ?? []).map((scope) => scopeDescriptions[scope] ?? `Use the permission “${scope}”`);
    const claims = (details.missingOIDCClaims ?? []).map((claim) => claimLabels[claim] ?? claim);
    const resources = Object.entries(details.missingResourceScopes ?? {}).map(([indicator, list]) => ({ indicator, scopes: list }));
    views.render(ctx, 'consent', {
      action: paths.interactionConsentUrl(interaction.uid),
      csrf: csrf.token(interaction.uid),
      clientName: client.clientName ?? client.clientId,
      scopes,
      claims,
      resources,
    });
  }

  async function validateConsentBody(ctx: InteractionContext & { state: { decision?: string } }, next: Next) {
    const parsed = consentBodySchema.safeParse(ctx.state.form);
    ctx.state.decision = parsed.success ? parsed.data.decision : 'deny';
    await next();
  }

  async function finishConsent(ctx: InteractionContext & { state: { decision?: string } }) {
    if (ctx.state.decision === 'allow') return grantRequested(ctx);
    await finishInteraction(ctx, { error: 'access_denied', error_description: 'The user declined the request' });
  }

  return {
    showConsent: [skipConsentForFirstParty, showConsentForm],
    postConsent: [parseForm, loadInteraction(deps), requirePrompt('consent'), checkCsrf(deps), validateConsentBody, finishConsent],
  };
}
