import type Koa from 'koa';

const absoluteForm = /^https?:\/\//i;

/** The path and query of a request target, whether it came in origin-form (`/a?b`) or absolute-form (`http://h/a?b`). */
function pathAndQuery(target: string): string {
  if (!absoluteForm.test(target)) return target;
  try {
    const url = new URL(target);
    return `${url.pathname}${url.search}`;
  } catch {
    return '/';
  }
}

/**
 * Makes every URL an app builds from its requests come from ISSUER, whatever the `Host`,
 * `X-Forwarded-Host` or `X-Forwarded-Proto` headers (or an absolute request target) say.
 *
 * oidc-provider builds discovery's endpoints, the audience it expects in `private_key_jwt`
 * assertions and the `htu` it expects in DPoP proofs from the request's protocol and host
 * (`OIDCContext.urlFor` resolves against `ctx.href`). Discovery is cached and served to everyone,
 * so a request with `Host: attacker.example` would otherwise choose the token endpoint, the JWKS
 * and the authorization endpoint that every relying party is sent to. Pinning the origin answers
 * any `Host` from the issuer's URLs, the way Keycloak's fixed hostname does. It also keeps an
 * https issuer's URLs https behind a TLS-terminating proxy, and makes `ctx.secure` true there, so
 * cookies are marked Secure.
 *
 * Koa documents `app.request` as the prototype of every `ctx.request`, to be extended this way.
 */
export function pinOriginToIssuer(app: Koa, issuer: string): void {
  const { protocol, host, hostname, origin } = new URL(issuer);
  const scheme = protocol.slice(0, -1);
  const constant = (value: unknown) => ({ get: () => value, configurable: true });
  Object.defineProperties(app.request, {
    protocol: constant(scheme),
    secure: constant(scheme === 'https'),
    host: constant(host),
    hostname: constant(hostname),
    href: {
      configurable: true,
      get(this: Koa.Request) {
        return `${origin}${pathAndQuery(this.originalUrl ?? '/')}`;
      },
    },
    URL: {
      configurable: true,
      get(this: Koa.Request) {
        return new URL(this.href);
      },
    },
  });
}
