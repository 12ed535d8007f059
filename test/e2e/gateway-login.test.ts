import { mkdir } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../support/browser.ts';
import { createTestClock } from '../support/clock.ts';
import { PASSWORD } from '../support/sso.ts';
import { ORDERS, startGateway, verifyIdentity, type GatewayFixture } from '../gateway/gateway-fixture.ts';
import { startEchoUpstream, startNginx, type RunningNginx } from '../gateway/nginx.ts';
import { freePort } from '../support/ports.ts';

const artifacts = new URL('../artifacts/', import.meta.url).pathname;
const DASHBOARD_HOST = 'dashboard.example.test';
const clock = createTestClock();

let f: GatewayFixture;
let nginx: RunningNginx;
let echo: Awaited<ReturnType<typeof startEchoUpstream>>;
let browser: Browser;
let adaId: string;
let dashboard: string;

const shot = (page: Page, name: string) => page.screenshot({ path: `${artifacts}${name}.png`, fullPage: true });

beforeAll(async () => {
  await mkdir(artifacts, { recursive: true });
  // Gatehouse at id.example.test and the application at dashboard.example.test, both loopback for
  // Chromium: the edge session cookie is set by Gatehouse for example.test and sent to the app.
  const port = await freePort();
  f = await startGateway({
    env: { PORT: String(port), ISSUER: `http://id.example.test:${port}`, EDGE_COOKIE_DOMAIN: 'example.test' },
    clock,
    async setup(services) {
      await services.apis.create({ identifier: ORDERS, scopes: ['orders:read'] });
      await services.routes.add({ host: DASHBOARD_HOST, path: '/*', api: ORDERS, login: true });
      adaId = (await services.users.create({ email: 'ada@example.com', password: PASSWORD, name: 'Ada Lovelace', emailVerified: true })).id;
    },
  });
  await f.database.db.user.update({ where: { id: adaId }, data: { preferredUsername: 'ada' } });
  await f.services.authz.directory.groups.create('ops');
  await f.services.authz.directory.groups.addMember({ group: 'ops', user: adaId });
  echo = await startEchoUpstream();
  nginx = await startNginx({ gatehouse: port, orders: echo.port, dashboard: echo.port });
  dashboard = `http://${DASHBOARD_HOST}:${nginx.port}`;
  browser = await launchBrowser(['--host-resolver-rules=MAP *.example.test 127.0.0.1']);
});
afterAll(async () => {
  await browser?.close();
  await nginx?.stop();
  await echo?.close();
  await f?.close();
});

/** What the application behind nginx received, as the echo upstream shows it. */
const received = async (page: Page) => JSON.parse((await page.textContent('body'))!) as { url: string; headers: Record<string, string> };

describe('browser sign-in at the edge, through a real nginx (a --login route)', () => {
  it('signs in at Gatehouse, lands on the application with the identity, and is sent to sign in again after signing out at Gatehouse', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    // The regression this guards: a redirect to the application straight after the login form was blocked by its CSP form-action.
    const violations: string[] = [];
    page.on('console', (m) => m.type() === 'error' && m.text().includes('Content Security Policy') && violations.push(m.text()));

    await page.goto(`${dashboard}/reports?year=2026`);
    await page.waitForSelector('input[name=password]');
    expect(new URL(page.url()).host).toBe(new URL(f.server.issuer).host);
    await shot(page, 'edge-sign-in');
    await page.fill('#email', 'ada@example.com');
    await page.fill('#password', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(`${dashboard}/reports?year=2026`);

    const first = await received(page);
    expect(first.url).toBe('/reports?year=2026');
    expect(first.headers).toMatchObject({
      'x-auth-request-user': adaId,
      'x-auth-request-email': 'ada@example.com',
      'x-auth-request-preferred-username': 'ada',
      'x-auth-request-client-id': 'gatehouse-edge',
      'x-auth-request-groups': 'ops',
    });
    const { payload } = await verifyIdentity(f.server, first.headers['x-auth-request-identity'], ORDERS);
    expect(payload).toMatchObject({ sub: adaId, client_id: 'gatehouse-edge', scope: '', email: 'ada@example.com', groups: ['ops'], roles: [] });
    const cookie = (await context.cookies()).find((c) => c.name === 'gatehouse_edge')!;
    expect(cookie).toMatchObject({ domain: '.example.test', path: '/', httpOnly: true, sameSite: 'Lax', secure: false });

    // Another page of the application: the cookie alone, no sign-in.
    await page.goto(`${dashboard}/settings`);
    expect((await received(page)).headers['x-auth-request-user']).toBe(adaId);

    // Signing out at Gatehouse itself (not through the edge): the edge session ends with it.
    await page.goto(`${f.server.issuer}/session/end`);
    await page.waitForSelector('button[value=yes]');
    await page.click('button[value=yes]');
    await page.waitForSelector('h1');
    expect(await page.textContent('h1')).toBe('You are signed out');
    expect((await context.cookies()).some((c) => c.name === 'gatehouse_edge')).toBe(true);
    // The edge re-checks a session with Gatehouse once per EDGE_SESSION_CHECK_INTERVAL.
    clock.advance(f.server.config.edge.sessionCheckInterval * 1000);
    await page.goto(`${dashboard}/settings`);
    await page.waitForSelector('input[name=password]');
    expect(new URL(page.url()).host).toBe(new URL(f.server.issuer).host);
    expect(violations).toEqual([]);
    await context.close();
  });

  it('signs out through the edge: the cookie is cleared and Gatehouse asks before signing out of everything', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${dashboard}/`);
    await page.waitForSelector('input[name=password]');
    await page.fill('#email', 'ada@example.com');
    await page.fill('#password', PASSWORD);
    // The page the callback answers with, held still (without its Refresh) to be seen; its link
    // leads on. It ends a redirect chain, which Playwright's routes do not see: DevTools' Fetch does.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Fetch.enable', { patterns: [{ urlPattern: '*/edge/v1/callback?*', requestStage: 'Response' }] });
    cdp.on('Fetch.requestPaused', async (paused) => {
      const { body, base64Encoded } = await cdp.send('Fetch.getResponseBody', { requestId: paused.requestId });
      expect(paused.responseHeaders?.find((h) => h.name.toLowerCase() === 'refresh')?.value).toBe(`0; url=${dashboard}/`);
      await cdp.send('Fetch.fulfillRequest', {
        requestId: paused.requestId,
        responseCode: paused.responseStatusCode!,
        responseHeaders: paused.responseHeaders!.filter((h) => h.name.toLowerCase() !== 'refresh'),
        body: base64Encoded ? body : Buffer.from(body).toString('base64'),
      });
    });
    await page.click('button[type=submit]');
    await page.waitForSelector('text=You are signed in');
    await shot(page, 'edge-signed-in');
    await cdp.send('Fetch.disable');
    await page.click(`a[href="${dashboard}/"]`);
    await page.waitForURL(`${dashboard}/`);

    await page.goto(`${f.server.issuer}/edge/v1/sign-out`);
    await page.waitForSelector('button[value=yes]');
    expect((await context.cookies()).some((c) => c.name === 'gatehouse_edge')).toBe(false);
    await shot(page, 'edge-sign-out');
    await page.click('button[value=yes]');
    await page.waitForSelector('h1');
    await page.goto(`${dashboard}/`);
    await page.waitForSelector('input[name=password]');
    await context.close();
  });

  it('refuses to send a browser back anywhere but a host with a route (no open redirect)', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const response = await page.goto(`${f.server.issuer}/edge/v1/sign-in?rd=${encodeURIComponent('http://evil.example.net/')}`);
    expect(response!.status()).toBe(400);
    expect(await page.textContent('h1')).toBe('Sign-in did not complete');
    await shot(page, 'edge-sign-in-refused');
    await context.close();
  });
});
