import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { setPageSecurityHeaders } from '../http/page-security.ts';
import type { Views } from '../views.ts';

const friendlyErrors: Record<string, string> = {
  invalid_request: 'The application sent an invalid sign-in request.',
  invalid_client: 'The application is not known here.',
  invalid_redirect_uri: 'The application asked to send you somewhere it is not allowed to.',
  access_denied: 'The request was declined.',
  login_required: 'You need to sign in first.',
  server_error: 'An unexpected error occurred. Please try again in a moment.',
};

const clientName = (ctx: KoaContextWithOIDC) => ctx.oidc?.client?.clientName ?? ctx.oidc?.client?.clientId;

/**
 * Gatehouse's look for the pages oidc-provider renders itself: the logout question, the
 * logged-out page and errors met in the browser. Errors asked for as JSON stay JSON.
 */
export function createProviderPages(views: Views): Required<Pick<Configuration, 'renderError'>> & {
  logoutSource: (ctx: KoaContextWithOIDC, form: string) => Promise<void>;
  postLogoutSuccessSource: (ctx: KoaContextWithOIDC) => Promise<void>;
} {
  const page = (ctx: KoaContextWithOIDC, name: string, data: Record<string, unknown>) => {
    if (!ctx.response.get('Content-Security-Policy').includes('form-action')) setPageSecurityHeaders(ctx);
    ctx.type = 'html';
    ctx.body = views.html(name, data);
  };
  return {
    async logoutSource(ctx, form) {
      page(ctx, 'logout', { form, clientName: clientName(ctx) });
    },
    async postLogoutSuccessSource(ctx) {
      page(ctx, 'logged-out', { clientName: clientName(ctx) });
    },
    async renderError(ctx, out) {
      if (ctx.accepts('html', 'json') === 'json') {
        ctx.type = 'json';
        ctx.body = out;
        return;
      }
      const code = String(out.error);
      const message = friendlyErrors[code] ?? (ctx.status < 500 && out.error_description ? String(out.error_description) : friendlyErrors.server_error);
      page(ctx, 'error', { title: 'Something went wrong', message, code: ctx.status < 500 ? code : undefined });
    },
  };
}

export type ProviderPages = ReturnType<typeof createProviderPages>;
