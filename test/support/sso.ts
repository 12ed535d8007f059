import * as client from 'openid-client';
import { createServices } from '../../apps/core/services.ts';
import type { CreateClientBody } from '../../apps/core/clients/client-service.ts';
import type { CookieJar } from './cookie-jar.ts';
import { createTestDatabase } from './database.ts';
import { startTestServer, type TestServer } from './server.ts';

export const PASSWORD = 'correct horse battery staple';

/** Users and clients made through the same services the CLI uses. */
export function ssoFixtures(server: TestServer) {
  const services = createServices({ config: server.config, secrets: server.secrets, db: server.db });
  return {
    services,
    createUser: (email: string, extra: Record<string, unknown> = {}) =>
      services.users.create({ email, password: PASSWORD, name: 'Ada Lovelace', givenName: 'Ada', familyName: 'Lovelace', emailVerified: true, ...extra }),
    async createClient(body: Partial<CreateClientBody> = {}) {
      const redirectUri = 'http://127.0.0.1:9/callback';
      const created = await services.clients.create({
        name: 'Test App',
        grantTypes: ['authorization_code', 'refresh_token'],
        redirectUris: [redirectUri],
        postLogoutRedirectUris: ['http://127.0.0.1:9/logged-out'],
        scope: 'openid profile email offline_access',
        ...body,
      });
      const auth = created.clientSecret ? client.ClientSecretBasic(created.clientSecret) : client.None();
      const config = await client.discovery(new URL(server.issuer), created.clientId, undefined, auth, { execute: [client.allowInsecureRequests] });
      return { ...created, redirectUri: (body.redirectUris ?? [redirectUri])[0], config };
    },
  };
}

export interface Page {
  url: string;
  status: number;
  html: string;
}

export const field = (html: string, name: string) => html.match(new RegExp(`name="${name}" value="([^"]*)"`))?.[1];
export const formAction = (html: string) => html.match(/<form method="post" action="([^"]+)"/)?.[1];
export const decode = (s: string) =>
  s
    .replace(/&amp;/g, '&')
    .replace(/&#39;/g, "'")
    .replace(/&quot;/g, '"');

/**
 * Follows the sign-in like a browser with the given answers: redirects on the server are
 * followed, the login and consent forms are filled in, and it stops at the first redirect that
 * leaves the server (the client's callback) or at a page it has no answer for.
 */
export async function signIn(jar: CookieJar, start: string | URL, answers: { email?: string; password?: string; consent?: 'allow' | 'deny' } = {}) {
  const origin = new URL(start).origin;
  const pages: Page[] = [];
  let response = await jar.fetch(start, { headers: { accept: 'text/html' } });
  let url = String(start);
  for (let hops = 0; hops < 20; hops++) {
    const location = response.headers.get('location');
    if (location) {
      url = new URL(location, url).href;
      if (new URL(url).origin !== origin) return { callback: url, pages };
      response = await jar.fetch(url, { headers: { accept: 'text/html' } });
      continue;
    }
    const html = await response.text();
    pages.push({ url, status: response.status, html });
    const action = formAction(html);
    const csrf = field(html, 'csrf');
    let body: URLSearchParams;
    if (html.includes('name="password"') && answers.password !== undefined && csrf) {
      body = new URLSearchParams({ csrf, email: answers.email ?? '', password: answers.password });
      answers = { ...answers, password: undefined };
    } else if (html.includes('name="decision"') && answers.consent && csrf) {
      body = new URLSearchParams({ csrf, decision: answers.consent });
      answers = { ...answers, consent: undefined };
    } else {
      return { callback: undefined, pages };
    }
    url = new URL(decode(action!), url).href;
    response = await jar.fetch(url, { method: 'POST', body, headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' } });
  }
  throw new Error('too many redirects');
}

/** A fresh authorization request with PKCE, state and nonce, as a relying party makes it. */
export async function authorizationRequest(config: client.Configuration, redirectUri: string, params: Record<string, string> = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile email',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...params,
  });
  return { url, verifier, state, nonce };
}

/** A Gatehouse on a database of its own, with Ada as a user: what every SSO test file starts from. */
export async function startSsoServer(env: Record<string, string> = {}) {
  const database = await createTestDatabase();
  const server = await startTestServer({ databaseUrl: database.url, env });
  const fixtures = ssoFixtures(server);
  await fixtures.createUser('ada@example.com');
  return {
    database,
    server,
    fixtures,
    async close() {
      await server.close();
      await database.drop();
    },
  };
}
