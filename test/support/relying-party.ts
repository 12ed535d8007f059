import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';

export interface RelyingParty {
  url: string;
  redirectUri: string;
  postLogoutRedirectUri: string;
  /** Points the relying party at its registered client (it listens before the client exists). */
  configure(clientId: string, clientSecret: string): Promise<void>;
  close(): Promise<void>;
}

const page = (title: string, body: string) =>
  `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1>${body}</body></html>`;

/** A tiny web application that signs its users in with Gatehouse, as a stranger's app would. */
export async function startRelyingParty(name: string, issuer: string, { params = {} }: { params?: Record<string, string> } = {}): Promise<RelyingParty> {
  let config: client.Configuration | undefined;
  const pending = new Map<string, { verifier: string; nonce: string }>();
  let idToken: string | undefined;
  let email: string | undefined;
  const server = createServer(async (req, res) => {
    const url = new URL(req.url!, base);
    const send = (status: number, html: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...headers });
      res.end(html);
    };
    try {
      if (url.pathname === '/')
        return send(
          200,
          page(name, email ? `<p id="who">Signed in as ${email}</p><a href="/logout">Sign out</a>` : '<a id="login" href="/login">Sign in with Gatehouse</a>'),
        );
      if (url.pathname === '/login') {
        const verifier = client.randomPKCECodeVerifier();
        const state = client.randomState();
        const nonce = client.randomNonce();
        pending.set(state, { verifier, nonce });
        const to = client.buildAuthorizationUrl(config!, {
          redirect_uri: `${base}/callback`,
          scope: 'openid profile email',
          state,
          nonce,
          code_challenge: await client.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          ...params,
        });
        return send(302, '', { location: to.href });
      }
      if (url.pathname === '/callback') {
        const state = url.searchParams.get('state') ?? '';
        const expected = pending.get(state);
        if (!expected) return send(400, page('Unknown state', ''));
        pending.delete(state);
        const tokens = await client.authorizationCodeGrant(config!, url, {
          pkceCodeVerifier: expected.verifier,
          expectedState: state,
          expectedNonce: expected.nonce,
        });
        const info = await client.fetchUserInfo(config!, tokens.access_token, tokens.claims()!.sub);
        idToken = tokens.id_token;
        email = String(info.email);
        return send(302, '', { location: '/' });
      }
      if (url.pathname === '/logout') {
        const to = client.buildEndSessionUrl(config!, { id_token_hint: idToken!, post_logout_redirect_uri: `${base}/logged-out`, state: 'bye' });
        idToken = undefined;
        email = undefined;
        return send(302, '', { location: to.href });
      }
      if (url.pathname === '/logged-out') return send(200, page(`${name}: signed out`, `<p id="state">${url.searchParams.get('state')}</p>`));
      send(404, page('Not found', ''));
    } catch (error) {
      send(500, page('Relying party error', `<pre>${String((error as Error).message)}</pre>`));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    redirectUri: `${base}/callback`,
    postLogoutRedirectUri: `${base}/logged-out`,
    async configure(clientId, clientSecret) {
      config = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(clientSecret), {
        execute: [client.allowInsecureRequests],
      });
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
