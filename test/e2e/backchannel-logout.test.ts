import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import * as jose from 'jose';
import type { Browser } from 'playwright-core';
import { loadConfig } from '../../apps/core/config/config.ts';
import { projectRoot } from '../../apps/core/db/runtime.ts';
import { launchBrowser } from '../support/browser.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { startRelyingParty } from '../support/relying-party.ts';
import { freePort, testSecrets, type TestServer } from '../support/server.ts';
import { PASSWORD, ssoFixtures } from '../support/sso.ts';

/**
 * Gatehouse in a process of its own, started as `npm start` starts it. Not in Jest's: there
 * oidc-provider cannot find Node's fetch dispatcher, so it sends its back-channel requests
 * without the filter that refuses loopback and private addresses, which is the very thing that
 * kept a real server's logout tokens from loopback relying parties.
 */
interface GatehouseProcess {
  url: string;
  child: ChildProcess;
  logs: Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

async function startGatehouse(env: Record<string, string>): Promise<GatehouseProcess> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.NODE_OPTIONS;
  const child = spawn(process.execPath, [resolve(projectRoot, 'apps/server/start.js')], { env: childEnv, cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Array<Record<string, unknown>> = [];
  let pending = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop()!;
    for (const line of lines) if (line.startsWith('{')) logs.push(JSON.parse(line));
  });
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 30_000;
  while (
    !(await fetch(`${env.ISSUER}/readyz`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Gatehouse did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: env.ISSUER,
    child,
    logs,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

let database: TestDatabase;
let gatehouse: GatehouseProcess;
let server: Pick<TestServer, 'url' | 'issuer' | 'config' | 'secrets' | 'db'>;
let fixtures: ReturnType<typeof ssoFixtures>;
let browser: Browser;
let adaId: string;

/** A relying party's back-channel endpoint: records each POST, answers with the status asked for. */
interface Receiver {
  url: string;
  posts: Array<{ path: string; contentType?: string; logoutToken: string | null }>;
  answer: number;
}
let receiver: Receiver;
let receiverServer: Server;

beforeAll(async () => {
  database = await createTestDatabase();
  const port = await freePort();
  const secrets = testSecrets();
  const env = {
    NODE_ENV: 'test',
    PORT: String(port),
    HOST: '127.0.0.1',
    ISSUER: `http://127.0.0.1:${port}`,
    DATABASE_URL: database.url,
    KEY_ENCRYPTION_KEY: secrets.keyEncryptionKey,
    COOKIE_KEYS: secrets.cookieKeys.join(','),
    CLIENT_SECRET_PEPPER: secrets.clientSecretPepper,
    LOG_LEVEL: 'info',
  };
  gatehouse = await startGatehouse(env);
  server = { url: gatehouse.url, issuer: gatehouse.url, config: loadConfig(env), secrets, db: database.db };
  fixtures = ssoFixtures(server as TestServer);
  adaId = (await fixtures.createUser('ada@example.com')).id;
  const posts: Receiver['posts'] = [];
  receiverServer = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.method === 'POST')
        posts.push({ path: req.url!, contentType: req.headers['content-type'], logoutToken: new URLSearchParams(body).get('logout_token') });
      res.writeHead(receiver.answer).end();
    });
  });
  await new Promise<void>((r) => receiverServer.listen(0, '127.0.0.1', r));
  receiver = { url: `http://127.0.0.1:${(receiverServer.address() as AddressInfo).port}`, posts, answer: 200 };
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => receiverServer?.close(r));
  await gatehouse?.stop();
  await database?.drop();
});

async function waitFor<T>(find: () => T | undefined, ms: number): Promise<T | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = find();
    if (found !== undefined || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A person signs in to a relying party in Chromium (consenting when asked), then signs out from
 * it: the relying party sends them to /session/end with its id_token_hint and
 * post_logout_redirect_uri, and they confirm.
 */
async function signInAndOut({ firstParty, scope, name }: { firstParty: boolean; scope: string; name: string }) {
  // offline_access is only granted with prompt=consent (OpenID Connect Core §11).
  const rp = await startRelyingParty(name, server.issuer, { params: { scope, ...(scope.includes('offline_access') && { prompt: 'consent' }) } });
  const backchannelPath = `/backchannel/${encodeURIComponent(name)}`;
  const created = await fixtures.services.clients.create({
    name,
    firstParty,
    grantTypes: ['authorization_code', 'refresh_token'],
    redirectUris: [rp.redirectUri],
    postLogoutRedirectUris: [rp.postLogoutRedirectUri],
    scope: 'openid profile email offline_access',
    backchannelLogoutUri: `${receiver.url}${backchannelPath}`,
  });
  await rp.configure(created.clientId, created.clientSecret!);
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${rp.url}/`);
    await page.click('#login');
    await page.waitForSelector('input[name=password]');
    await page.fill('#email', 'ada@example.com');
    await page.fill('#password', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForSelector('#who, button[value=allow]');
    if (await page.locator('button[value=allow]').count()) await page.click('button[value=allow]');
    await page.waitForSelector('#who');
    expect(await page.textContent('#who')).toBe('Signed in as ada@example.com');

    await page.goto(`${rp.url}/logout`);
    await page.waitForSelector('button[value=yes]');
    await page.click('button[value=yes]');
    await page.waitForSelector('#state');
    expect(await page.textContent('h1')).toBe(`${name}: signed out`);
    return { clientId: created.clientId, backchannelPath };
  } finally {
    await context.close();
    await rp.close();
  }
}

describe('back-channel logout after RP-initiated logout in a browser', () => {
  it.each([
    ['a first-party client', true, 'openid profile email'],
    ['a first-party client with offline_access', true, 'openid profile email offline_access'],
    ['a client that is not first-party (consent page)', false, 'openid profile email'],
    ['a client that is not first-party with offline_access', false, 'openid profile email offline_access'],
  ])('POSTs a logout token signed by Gatehouse to %s', async (label, firstParty, scope) => {
    receiver.answer = 200;
    const name = label.replace(/[^a-z]+/gi, '-');
    const { clientId, backchannelPath } = await signInAndOut({ firstParty, scope, name });
    const post = await waitFor(() => receiver.posts.find((p) => p.path === backchannelPath), 10_000);
    expect(post).toMatchObject({ contentType: 'application/x-www-form-urlencoded' });

    const jwks = jose.createRemoteJWKSet(new URL(`${server.url}/jwks`));
    const { payload, protectedHeader } = await jose.jwtVerify(post!.logoutToken!, jwks, { issuer: server.issuer, audience: clientId, typ: 'logout+jwt' });
    expect(protectedHeader.alg).toMatch(/^(RS256|ES256)$/);
    expect(payload.events).toEqual({ 'http://schemas.openid.net/event/backchannel-logout': {} });
    expect(payload.sub).toBe(adaId);
    expect(payload.sid).toEqual(expect.any(String));
    expect(payload.jti).toEqual(expect.any(String));
    expect(payload).not.toHaveProperty('nonce');
    expect(receiver.posts.filter((p) => p.path === backchannelPath)).toHaveLength(1);
  });

  it('logs a warning naming the client when the relying party does not accept the logout token', async () => {
    receiver.answer = 500;
    const { clientId, backchannelPath } = await signInAndOut({ firstParty: false, scope: 'openid email', name: 'Refusing' });
    expect(await waitFor(() => receiver.posts.find((p) => p.path === backchannelPath), 10_000)).toBeDefined();
    const warning = await waitFor(() => gatehouse.logs.find((l) => l.msg === 'back-channel logout failed'), 5_000);
    expect(warning).toMatchObject({ level: 40, client_id: clientId });
    expect(String((warning as { err?: { message?: string } }).err?.message)).toContain('got: 500');
  });
});
