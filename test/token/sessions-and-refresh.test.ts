import * as client from 'openid-client';
import { fakeDate } from '../support/clock.ts';
import { createCookieJar, type CookieJar } from '../support/cookie-jar.ts';
import { authorizationRequest, PASSWORD, signIn, type ssoFixtures, startSsoServer } from '../support/sso.ts';

let sso: Awaited<ReturnType<typeof startSsoServer>>;
let fixtures: ReturnType<typeof ssoFixtures>;
let date: ReturnType<typeof fakeDate>;
type App = Awaited<ReturnType<ReturnType<typeof ssoFixtures>['createClient']>>;

beforeAll(async () => {
  // auth_time and max_age are oidc-provider's, on its own clock: Date is moved for them.
  date = fakeDate();
  sso = await startSsoServer();
  ({ fixtures } = sso);
});
afterAll(async () => {
  await sso?.close();
  date.restore();
});

const answers = { email: 'ada@example.com', password: PASSWORD, consent: 'allow' as const };

async function login(jar: CookieJar, app: App, params: Record<string, string> = {}, given: Parameters<typeof signIn>[2] = answers) {
  const request = await authorizationRequest(app.config, app.redirectUri, params);
  const result = await signIn(jar, request.url, given);
  const url = result.callback ? new URL(result.callback) : undefined;
  const tokens = url?.searchParams.has('code')
    ? await client.authorizationCodeGrant(app.config, url, { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce })
    : undefined;
  return { ...result, url, tokens };
}

describe('single sign-on', () => {
  it('signs in to a second client in the same browser without asking for the password again', async () => {
    const jar = createCookieJar();
    const first = await login(jar, await fixtures.createClient({ extra: { require_auth_time: true } }));
    const second = await login(jar, await fixtures.createClient({ firstParty: true, extra: { require_auth_time: true } }));
    expect(first.pages).toHaveLength(2);
    expect(second.pages).toHaveLength(0);
    expect(second.tokens!.claims()!.sub).toBe(first.tokens!.claims()!.sub);
    expect(second.tokens!.claims()!.auth_time).toBe(first.tokens!.claims()!.auth_time);
  });

  it('asks a third-party second client only for consent', async () => {
    const jar = createCookieJar();
    await login(jar, await fixtures.createClient());
    const second = await login(jar, await fixtures.createClient());
    expect(second.pages).toHaveLength(1);
    expect(second.pages[0].html).toContain('Allow access?');
  });

  it('answers prompt=none without a session with login_required', async () => {
    const { url } = await login(createCookieJar(), await fixtures.createClient(), { prompt: 'none' });
    expect(url!.searchParams.get('error')).toBe('login_required');
  });

  it('shows the login page again for prompt=login and moves auth_time', async () => {
    const jar = createCookieJar();
    const app = await fixtures.createClient({ extra: { require_auth_time: true } });
    const first = await login(jar, app);
    date.travel(5000);
    const again = await login(jar, app, { prompt: 'login' });
    expect(again.pages[0].html).toContain('name="password"');
    expect(again.tokens!.claims()!.auth_time).toBeGreaterThanOrEqual((first.tokens!.claims()!.auth_time as number) + 5);
  });

  it('asks for consent again for prompt=consent', async () => {
    const jar = createCookieJar();
    const app = await fixtures.createClient();
    await login(jar, app);
    const again = await login(jar, app, { prompt: 'consent' });
    expect(again.pages.map((p) => p.html.includes('Allow access?'))).toEqual([true]);
  });

  it('accepts acr_values, ui_locales and display and signs in as usual (they are safely ignored)', async () => {
    const signedIn = await login(createCookieJar(), await fixtures.createClient(), {
      acr_values: 'urn:example:loa:2',
      ui_locales: 'fr-CA en',
      display: 'popup',
    });
    expect(signedIn.pages.map((p) => p.html.includes('name="password"'))).toEqual([true, false]);
    expect(signedIn.tokens!.claims()!.sub).toEqual(expect.any(String));
    expect(signedIn.tokens!.claims()).not.toHaveProperty('acr', 'urn:example:loa:2');
  });

  it('prefills the email from login_hint', async () => {
    const { pages } = await login(createCookieJar(), await fixtures.createClient(), { login_hint: 'ada@example.com' });
    expect(pages[0].html).toMatch(/name="email"[^>]*value="ada@example.com"|value="ada@example.com"[^>]*name="email"/);
  });

  it('asks for the password again when max_age has passed, and not before', async () => {
    const jar = createCookieJar();
    const app = await fixtures.createClient();
    await login(jar, app);
    expect((await login(jar, app, { max_age: '60' })).pages).toHaveLength(0);
    date.travel(61_000);
    const again = await login(jar, app, { max_age: '60' });
    expect(again.pages[0].html).toContain('name="password"');
  });
});

describe('refresh tokens', () => {
  it('are issued only for offline_access with consent, rotate on each use, and reuse revokes the grant', async () => {
    const app = await fixtures.createClient();
    const plain = await login(createCookieJar(), app);
    expect(plain.tokens!.refresh_token).toBeUndefined();

    const { tokens } = await login(createCookieJar(), app, { scope: 'openid offline_access', prompt: 'consent' });
    const first = tokens!.refresh_token!;
    expect(first).toBeTruthy();
    const rotated = await client.refreshTokenGrant(app.config, first);
    expect(rotated.refresh_token).not.toBe(first);

    const reuse = await client.refreshTokenGrant(app.config, first).catch((e) => e);
    expect(reuse.error).toBe('invalid_grant');
    const afterReuse = await client.refreshTokenGrant(app.config, rotated.refresh_token!).catch((e) => e);
    expect(afterReuse.error).toBe('invalid_grant');
  });

  it('are issued to a first-party client without offline_access, and refresh for the same user, rotating', async () => {
    const app = await fixtures.createClient({ firstParty: true });
    const { tokens } = await login(createCookieJar(), app);
    const sub = tokens!.claims()!.sub;
    const first = tokens!.refresh_token!;
    expect(first).toEqual(expect.any(String));

    const refreshed = await client.refreshTokenGrant(app.config, first);
    expect(refreshed.refresh_token).toEqual(expect.any(String));
    expect(refreshed.refresh_token).not.toBe(first);
    expect(refreshed.claims()!.sub).toBe(sub);
    expect((await client.fetchUserInfo(app.config, refreshed.access_token, sub)).sub).toBe(sub);
    // The rotated token is the one that works now.
    expect((await client.refreshTokenGrant(app.config, refreshed.refresh_token!)).claims()!.sub).toBe(sub);
  });

  it("rejects client A's refresh token presented by client B with invalid_grant", async () => {
    const a = await fixtures.createClient({ firstParty: true });
    const b = await fixtures.createClient({ firstParty: true });
    const { tokens } = await login(createCookieJar(), a);
    const error = await client.refreshTokenGrant(b.config, tokens!.refresh_token!).catch((e) => e);
    expect(error.error).toBe('invalid_grant');
  });
});

describe('account changes', () => {
  it("ends a disabled user's sessions and refresh tokens at once", async () => {
    const user = await fixtures.createUser('grace@example.com');
    const app = await fixtures.createClient({ firstParty: true });
    const jar = createCookieJar();
    const { tokens } = await login(jar, app, {}, { email: 'grace@example.com', password: PASSWORD });
    await fixtures.services.users.disable(user.id);

    const refresh = await client.refreshTokenGrant(app.config, tokens!.refresh_token!).catch((e) => e);
    expect(refresh.error).toBe('invalid_grant');
    const silent = await login(jar, app, { prompt: 'none' });
    expect(silent.url!.searchParams.get('error')).toBe('login_required');
    const again = await login(createCookieJar(), app, {}, { email: 'grace@example.com', password: PASSWORD });
    expect(again.pages[1].html).toContain('Invalid email or password.');
  });
});
