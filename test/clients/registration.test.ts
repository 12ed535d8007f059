import { loadConfig } from '../../apps/core/config/config.ts';
import type { CreateClientBody } from '../../apps/core/clients/client-service.ts';
import { createServices, type Services } from '../../apps/core/services.ts';
import { createCli } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { testSecrets } from '../support/server.ts';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const secrets = testSecrets();
const secretEnv = {
  KEY_ENCRYPTION_KEY: secrets.keyEncryptionKey,
  COOKIE_KEYS: secrets.cookieKeys.join(','),
  CLIENT_SECRET_PEPPER: secrets.clientSecretPepper,
};

let database: TestDatabase;
let production: Services;
let development: Services;

const servicesFor = (env: Record<string, string>) =>
  createServices({ config: loadConfig({ DATABASE_URL: database.url, ...secretEnv, ...env }), secrets, db: database.db });

beforeAll(async () => {
  database = await createTestDatabase();
  production = servicesFor({ NODE_ENV: 'production', ISSUER: 'https://id.example.test' });
  development = servicesFor({ NODE_ENV: 'development' });
});
afterAll(() => database?.drop());

const webApp = (body: Partial<CreateClientBody>): CreateClientBody => ({
  name: 'web app',
  grantTypes: ['authorization_code'],
  redirectUris: ['https://app.example.test/cb'],
  ...body,
});
const refusal = (message: string) => ({ code: 'client.invalid_input', status: 400, message });
const httpsInProduction = 'must be https in production (plain http only to a loopback IP: 127.0.0.1 or [::1])';

describe('client registration in production: http callback URIs (RFC 9700 §2.6)', () => {
  it('refuses an http redirect URI on a public host, and writes nothing', async () => {
    const before = await database.db.client.count();
    await expect(production.clients.create(webApp({ redirectUris: ['https://app.example.test/cb', 'http://app.example.test/cb'] }))).rejects.toMatchObject(
      refusal(`redirectUris.1: ${httpsInProduction}`),
    );
    expect(await database.db.client.count()).toBe(before);
  });

  it('refuses an http redirect URI to localhost: only a loopback IP literal cannot resolve elsewhere (RFC 8252 §8.3)', async () => {
    await expect(production.clients.create(webApp({ redirectUris: ['http://localhost:8400/cb'] }))).rejects.toMatchObject(
      refusal(`redirectUris.0: ${httpsInProduction}`),
    );
  });

  it('refuses an http post-logout redirect URI and an http back-channel logout URI', async () => {
    await expect(production.clients.create(webApp({ postLogoutRedirectUris: ['http://app.example.test/bye'] }))).rejects.toMatchObject(
      refusal(`postLogoutRedirectUris.0: ${httpsInProduction}`),
    );
    await expect(production.clients.create(webApp({ backchannelLogoutUri: 'http://app.example.test/logout' }))).rejects.toMatchObject(
      refusal(`backchannelLogoutUri: ${httpsInProduction}`),
    );
  });

  it('accepts https, and http to a loopback IP literal (a native app, RFC 8252 §7.3)', async () => {
    const created = await production.clients.create(
      webApp({
        redirectUris: ['https://app.example.test/cb', 'http://127.0.0.1:8400/cb', 'http://127.1.2.3/cb', 'http://[::1]:8400/cb'],
        postLogoutRedirectUris: ['http://127.0.0.1:8400/bye'],
        backchannelLogoutUri: 'https://app.example.test/logout',
      }),
    );
    expect(created.metadata).toMatchObject({
      redirect_uris: ['https://app.example.test/cb', 'http://127.0.0.1:8400/cb', 'http://127.1.2.3/cb', 'http://[::1]:8400/cb'],
    });
  });

  it('still accepts http callbacks on any host outside production', async () => {
    const created = await development.clients.create(
      webApp({
        redirectUris: ['http://app.example.test/cb'],
        postLogoutRedirectUris: ['http://app.example.test/bye'],
        backchannelLogoutUri: 'http://app.example.test/logout',
      }),
    );
    expect(created.metadata).toMatchObject({ redirect_uris: ['http://app.example.test/cb'] });
  });

  it('says so in one line when `gatehouse client create` is given an http redirect URI in production', async () => {
    const cli = await createCli(database.url, secrets, { NODE_ENV: 'production', ISSUER: 'https://id.example.test' });
    try {
      const run = await cli.run('client', 'create', '--name', 'web', '--grant-types', 'authorization_code', '--redirect-uri', 'http://app.example.test/cb');
      expect(run).toEqual({ code: 2, stdout: '', stderr: `gatehouse: --redirect-uri 'http://app.example.test/cb': ${httpsInProduction}\n` });
    } finally {
      await cli.close();
    }
  });
});

describe('client registration: public clients (none)', () => {
  it('refuses token exchange for a client that does not authenticate: an exchanger must prove who it is', async () => {
    await expect(
      development.clients.create({
        name: 'spa',
        grantTypes: ['authorization_code', TOKEN_EXCHANGE],
        redirectUris: ['https://app.example.test/cb'],
        authMethod: 'none',
      }),
    ).rejects.toMatchObject(refusal('authMethod: a public client (none) cannot use token exchange'));
  });

  it('refuses client_credentials for a client that does not authenticate', async () => {
    await expect(development.clients.create({ name: 'spa', grantTypes: ['client_credentials'], authMethod: 'none' })).rejects.toMatchObject(
      refusal('authMethod: a public client (none) cannot use client_credentials'),
    );
  });
});
