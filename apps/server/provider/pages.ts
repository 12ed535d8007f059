import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { renderProviderError } from '../http/errors.ts';
import { setPageSecurityHeaders } from '../http/page-security.ts';
import type { Views } from '../views.ts';

const clientName = (ctx: KoaContextWithOIDC) => ctx.oidc?.client?.clientName ?? ctx.oidc?.client?.clientId;

/**
 * Gatehouse's look for the pages oidc-provider renders itself: the logout question, the
 * logged-out page and errors met in the browser (through the one error renderer, http/errors.ts).
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
    renderError: renderProviderError(views),
  };
}

export type ProviderPages = ReturnType<typeof createProviderPages>;
