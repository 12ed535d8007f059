import Router from '@koa/router';
import type { Context } from 'koa';
import * as oauth from 'oauth4webapi';
import type { RouteTable } from '../../core/gateway/route-table.ts';
import { hostnameOf } from '../../core/gateway/route-table.ts';
import type { Logger } from '../../core/logger.ts';
import { pageSecurityHeaders } from '../http/page-security.ts';
import { paths } from '../paths.ts';
import type { Views } from '../views.ts';
import { EDGE_SESSION_COOKIE, type EdgeSessions } from './edge-session.ts';
import { createSealer } from './sealed-value.ts';
import { systemClock, type Clock } from '../../core/clock.ts';

/** What the provider's storage says of the access token a sign-in's code was redeemed for. */
export interface SignInBinding {
  accountId?: string;
  sessionUid?: string;
  grantId?: string;
}

export interface EdgeLoginDeps {
  issuer: string;
  clientId: string;
  routes: () => RouteTable;
  sessions: Pick<EdgeSessions, 'seal' | 'fromCookieHeader' | 'forget'>;
  cookieKeys: string[];
  /** EDGE_COOKIE_DOMAIN; undefined: the issuer's host only. */
  cookieDomain?: string;
  /** Seconds an edge session may last at most (SESSION_TTL); it ends sooner with its Gatehouse session. */
  sessionTtl: number;
  /** This instance's own token endpoint, reached directly (the code is redeemed over HTTP, as any client would). */
  tokenEndpoint: () => string;
  /** The Gatehouse session and grant an access token was issued under (provider.AccessToken.find). */
  bindingOf: (accessToken: string) => Promise<SignInBinding | undefined>;
  views: Pick<Views, 'render'>;
  log: Logger;
  now?: Clock;
}

interface SignInState {
  verifier: string;
  nonce: string;
  /** Where to send the browser back. */
  rd: string;
  exp: number;
}

const SIGN_IN_SECONDS = 600;
const MAX_RETURN_URL = 2048;
const statePattern = /^[A-Za-z0-9_-]{20,64}$/;
const stateCookie = (state: string) => `gatehouse_edge_signin.${state}`;

const isSignInState = (s: Record<string, unknown>) =>
  typeof s.verifier === 'string' && typeof s.nonce === 'string' && typeof s.rd === 'string' && typeof s.exp === 'number';

/**
 * The browser's sign-in at the edge, for --login routes: a code flow (PKCE, state, nonce, RFC
 * 9207 `iss`) in which the edge is a first-party client of its own issuer (edge-client.ts), at
 * the end of which the browser holds the edge session cookie and returns where it was going.
 *
 * - GET /edge/v1/sign-in?rd=URL: `rd` must be an http(s) URL on a host some route names, so the
 *   edge is never an open redirect; the state, nonce and PKCE verifier go in a signed cookie
 *   scoped to the callback, one per sign-in in progress.
 * - GET /edge/v1/callback: checks the state and `iss`, redeems the code at the token endpoint,
 *   checks the ID token (oauth4webapi), binds the edge session to the Gatehouse session the
 *   access token was issued under, sets the cookie (EDGE_COOKIE_DOMAIN, HttpOnly, SameSite=Lax,
 *   Secure under an https issuer) and sends the browser back to `rd` (a page that moves on).
 * - GET /edge/v1/sign-out: clears the cookie and hands over to Gatehouse's own sign-out.
 */
export function createEdgeLoginRouter(deps: EdgeLoginDeps) {
  const { issuer, clientId, routes, sessions, cookieKeys, cookieDomain, sessionTtl, tokenEndpoint, bindingOf, views, log, now = systemClock } = deps;
  const secure = issuer.startsWith('https:');
  const redirectUri = `${issuer}${paths.edgeCallback}`;
  const states = createSealer<SignInState>(cookieKeys, 'edge sign-in state', isSignInState);
  const client: oauth.Client = { client_id: clientId, token_endpoint_auth_method: 'none' };
  const authorizationServer = (): oauth.AuthorizationServer => ({
    issuer,
    token_endpoint: tokenEndpoint(),
    authorization_endpoint: `${issuer}${paths.authorization}`,
    authorization_response_iss_parameter_supported: true,
  });

  const cookie = (name: string, value: string, attributes: { path: string; maxAge: number; domain?: string }) =>
    [
      `${name}=${value}`,
      `Path=${attributes.path}`,
      `Max-Age=${attributes.maxAge}`,
      ...(attributes.domain ? [`Domain=${attributes.domain}`] : []),
      'HttpOnly',
      'SameSite=Lax',
      ...(secure ? ['Secure'] : []),
    ].join('; ');

  /** A URL the browser may be sent back to: http(s), no user info, on a host with a route. */
  function returnUrl(value: unknown): string | undefined {
    if (typeof value !== 'string' || value.length > MAX_RETURN_URL) return undefined;
    const url = URL.parse(value);
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password) return undefined;
    if (secure && url.protocol !== 'https:') return undefined;
    const hostname = hostnameOf(url.host);
    return hostname && routes().hasHost(hostname) ? url.href : undefined;
  }

  function failed(ctx: Context, status: number, message: string) {
    views.render(ctx, 'error', { title: 'Sign-in did not complete', message }, status);
  }

  async function signIn(ctx: Context) {
    const rd = returnUrl(ctx.query.rd);
    if (!rd) return failed(ctx, 400, 'This sign-in link does not say where to return, or names a place Gatehouse does not protect.');
    const state = oauth.generateRandomState();
    const verifier = oauth.generateRandomCodeVerifier();
    const nonce = oauth.generateRandomNonce();
    const sealed = states.seal({ verifier, nonce, rd, exp: Math.floor(now() / 1000) + SIGN_IN_SECONDS });
    ctx.append('Set-Cookie', cookie(stateCookie(state), sealed, { path: paths.edgeCallback, maxAge: SIGN_IN_SECONDS }));
    const url = new URL(`${issuer}${paths.authorization}`);
    url.search = new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: 'openid profile email',
      state,
      nonce,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      // ID tokens carry only `sub` unless claims are asked for (oidc-provider's conformIdTokenClaims).
      claims: JSON.stringify({ id_token: { email: null, name: null, preferred_username: null } }),
    }).toString();
    ctx.status = 303;
    ctx.redirect(url.href);
  }

  async function callback(ctx: Context) {
    const params = new URLSearchParams(ctx.querystring);
    const state = params.get('state') ?? '';
    const saved = statePattern.test(state) ? states.open(ctx.cookies.get(stateCookie(state))) : undefined;
    ctx.append('Set-Cookie', cookie(stateCookie(statePattern.test(state) ? state : 'x'), '', { path: paths.edgeCallback, maxAge: 0 }));
    if (!saved || saved.exp * 1000 <= now())
      return failed(ctx, 400, 'This sign-in expired or was not started in this browser. Go back to the application and try again.');
    const rd = returnUrl(saved.rd);
    if (!rd) return failed(ctx, 400, 'The place this sign-in was to return to is no longer protected here.');
    const as = authorizationServer();
    let idToken: oauth.IDToken;
    let accessToken: string;
    try {
      const validated = oauth.validateAuthResponse(as, client, params, state);
      const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), validated, redirectUri, saved.verifier, {
        [oauth.allowInsecureRequests]: true,
      });
      const tokens = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: saved.nonce, requireIdToken: true });
      idToken = oauth.getValidatedIdTokenClaims(tokens)!;
      accessToken = tokens.access_token;
    } catch (error) {
      if (error instanceof oauth.AuthorizationResponseError) return failed(ctx, 403, 'The sign-in was declined.');
      log.warn({ err: error }, 'edge sign-in failed');
      return failed(ctx, 400, 'The sign-in could not be completed. Go back to the application and try again.');
    }
    const binding = await bindingOf(accessToken);
    if (!binding?.sessionUid || !binding.grantId || binding.accountId !== idToken.sub)
      return failed(ctx, 400, 'The sign-in could not be completed. Go back to the application and try again.');
    const iat = Math.floor(now() / 1000);
    const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
    const sealed = sessions.seal({
      sub: idToken.sub,
      sid: binding.sessionUid,
      gid: binding.grantId,
      email: text(idToken.email),
      name: text(idToken.name),
      preferredUsername: text(idToken.preferred_username),
      iat,
      exp: iat + sessionTtl,
    });
    ctx.append('Set-Cookie', cookie(EDGE_SESSION_COOKIE, sealed, { path: '/', maxAge: sessionTtl, domain: cookieDomain }));
    // A page that moves on, not a redirect: after the login form, the browser holds the redirect
    // chain to the form's CSP form-action, and a redirect to the application's origin would be
    // blocked there. `Refresh` starts a navigation of its own.
    ctx.set('Refresh', `0; url=${rd}`);
    views.render(ctx, 'edge-signed-in', { url: rd, host: new URL(rd).host });
  }

  async function signOut(ctx: Context) {
    const session = await sessions.fromCookieHeader(ctx.get('cookie'));
    if (session) sessions.forget(session);
    ctx.append('Set-Cookie', cookie(EDGE_SESSION_COOKIE, '', { path: '/', maxAge: 0, domain: cookieDomain }));
    // Gatehouse asks before it signs the browser out of everything (its logout page).
    const url = new URL(`${issuer}${paths.end_session}`);
    url.searchParams.set('client_id', clientId);
    ctx.status = 303;
    ctx.redirect(url.href);
  }

  const router = new Router();
  router.get(paths.edgeSignIn, pageSecurityHeaders, signIn);
  router.get(paths.edgeCallback, pageSecurityHeaders, callback);
  router.get(paths.edgeSignOut, pageSecurityHeaders, signOut);
  return router;
}
