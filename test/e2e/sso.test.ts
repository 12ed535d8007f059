import { mkdir } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../support/browser.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { startRelyingParty, type RelyingParty } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { PASSWORD, ssoFixtures } from '../support/sso.ts';

const artifacts = new URL('../artifacts/', import.meta.url).pathname;

let database: TestDatabase;
let server: TestServer;
let browser: Browser;
let notes: RelyingParty;
let photos: RelyingParty;

beforeAll(async () => {
  await mkdir(artifacts, { recursive: true });
  database = await createTestDatabase();
  server = await startTestServer({ databaseUrl: database.url });
  const fixtures = ssoFixtures(server);
  await fixtures.createUser('ada@example.com');
  notes = await startRelyingParty('Notes', server.issuer);
  photos = await startRelyingParty('Photos', server.issuer);
  for (const [rp, name] of [
    [notes, 'Notes'],
    [photos, 'Photos'],
  ] as const) {
    const created = await fixtures.services.clients.create({
      name,
      grantTypes: ['authorization_code'],
      redirectUris: [rp.redirectUri],
      postLogoutRedirectUris: [rp.postLogoutRedirectUri],
    });
    await rp.configure(created.clientId, created.clientSecret!);
  }
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await notes?.close();
  await photos?.close();
  await server?.close();
  await database?.drop();
});

const shot = (page: Page, name: string) => page.screenshot({ path: `${artifacts}${name}.png`, fullPage: true });

describe('single sign-on in a browser', () => {
  it('logs in with consent, signs in to a second app without the password, and logs out of both', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const violations: string[] = [];
    page.on('console', (m) => m.type() === 'error' && violations.push(m.text()));

    await page.goto(`${notes.url}/`);
    await page.click('#login');
    await page.waitForSelector('input[name=password]');
    expect(await page.locator('#email').evaluate((el) => el === el.ownerDocument.activeElement)).toBe(true);
    await shot(page, 'login');

    await page.fill('#email', 'ada@example.com');
    await page.fill('#password', 'wrong password');
    await page.click('button[type=submit]');
    await page.waitForSelector('[role=alert]');
    expect(await page.textContent('[role=alert]')).toBe('Invalid email or password.');
    await shot(page, 'login-error');

    await page.fill('#password', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForSelector('button[value=allow]');
    expect(await page.textContent('main')).toContain('Notes would like to');
    await shot(page, 'consent');
    await page.click('button[value=allow]');
    await page.waitForSelector('#who');
    expect(await page.textContent('#who')).toBe('Signed in as ada@example.com');

    await page.goto(`${photos.url}/login`);
    await page.waitForSelector('button[value=allow]');
    expect(await page.locator('input[name=password]').count()).toBe(0);
    await page.click('button[value=allow]');
    await page.waitForSelector('#who');
    expect(await page.textContent('#who')).toBe('Signed in as ada@example.com');

    await page.goto(`${photos.url}/logout`);
    await page.waitForSelector('button[value=yes]');
    await shot(page, 'logout');
    await page.click('button[value=yes]');
    await page.waitForSelector('#state');
    expect(await page.textContent('h1')).toBe('Photos: signed out');
    expect(await page.textContent('#state')).toBe('bye');

    await page.goto(`${notes.url}/login`);
    await page.waitForSelector('input[name=password]');

    await page.goto(`${server.url}/auth?client_id=unknown&response_type=code&scope=openid&redirect_uri=http://attacker.example/`);
    await page.waitForSelector('[role=alert]');
    await shot(page, 'error');
    await page.setViewportSize({ width: 375, height: 700 });
    await page.goto(`${notes.url}/login`);
    await page.waitForSelector('input[name=password]');
    await shot(page, 'login-mobile');
    expect(violations.filter((v) => /Content Security Policy/i.test(v))).toEqual([]);
    await context.close();
  });
});
