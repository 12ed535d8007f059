import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { errors, type Configuration } from 'oidc-provider';
import { DatabaseUnavailable } from '../../apps/core/errors.ts';
import {
  handBodyToProvider,
  onClientAssigned,
  onGrantTypeNotAllowed,
  watchRedemptions,
  type RedeemedKind,
  type RenderedByProvider,
} from '../../apps/server/provider/internals.ts';

// What apps/server/provider/internals.ts relies on in oidc-provider, outside its documented API,
// checked against a bare provider: when an upgrade changes it, this fails.

const configuration = {
  clients: [{ client_id: 'svc', client_secret: 'a-test-secret', grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }],
  features: { clientCredentials: { enabled: true }, devInteractions: { enabled: false } },
};

let provider: Provider;
let server: Server;
let url: string;
const compared: string[] = [];

beforeAll(async () => {
  provider = new Provider('http://127.0.0.1', configuration);
  const compare = provider.Client.prototype.compareClientSecret;
  provider.Client.prototype.compareClientSecret = function (this: { clientId: string }, actual: string) {
    compared.push(this.clientId);
    return compare.call(this, actual);
  };
  server = createServer(provider.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const tokenRequest = (secret: string, body = 'grant_type=client_credentials') =>
  fetch(`${url}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`svc:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });

describe('onClientAssigned (lib/helpers/oidc_context.js `assign.client`, lib/helpers/initialize_app.js `new provider.OIDCContext`)', () => {
  const seen: Array<{ route: string; clientId: string }> = [];
  let refuse = false;
  beforeAll(() => {
    onClientAssigned(provider, (ctx, client) => {
      seen.push({ route: ctx.oidc.route, clientId: client.clientId });
      if (refuse) throw Object.assign(new errors.OIDCProviderError(429, 'rate_limited'), { error_description: 'slow down' });
    });
  });

  it('calls the listener with the client a token request names', async () => {
    seen.length = 0;
    expect((await tokenRequest('a-test-secret')).status).toBe(200);
    expect(seen).toEqual([{ route: 'token', clientId: 'svc' }]);
  });

  it('calls it before the credential is checked, and a listener that throws ends the request with its error', async () => {
    refuse = true;
    compared.length = 0;
    try {
      const response = await tokenRequest('a-wrong-secret');
      expect(response.status).toBe(429);
      expect(await response.json()).toEqual({ error: 'rate_limited', error_description: 'slow down' });
      expect(compared).toEqual([]);
    } finally {
      refuse = false;
    }
  });
});

describe('handBodyToProvider (lib/shared/selective_body.js reads req.body)', () => {
  it('lets oidc-provider parse a form Gatehouse has already read', async () => {
    const reader = new Provider('http://127.0.0.1', configuration);
    reader.use(async (ctx, next) => {
      let text = '';
      for await (const chunk of ctx.req) text += chunk;
      handBodyToProvider(ctx.req, text);
      await next();
    });
    const own = createServer(reader.callback());
    await new Promise<void>((resolve) => own.listen(0, '127.0.0.1', resolve));
    try {
      const response = await fetch(`http://127.0.0.1:${(own.address() as AddressInfo).port}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from('svc:a-test-secret').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
      expect(response.status).toBe(200);
    } finally {
      await new Promise((resolve) => own.close(resolve));
    }
  });
});

/** A provider of its own on a loopback port, for the checks that configure it differently. */
async function serve(own: Provider) {
  const listening = createServer(own.callback());
  await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(listening.address() as AddressInfo).port}`, close: () => new Promise((resolve) => listening.close(resolve)) };
}

const form = (base: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
const basicAuth = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` });

describe('RenderedByProvider (lib/shared/error_handler.js, lib/shared/authorization_error_handler.js, lib/helpers/err_out.js)', () => {
  const outage = () => new DatabaseUnavailable({ cause: new Error('connect ECONNREFUSED'), reason: 'connect ECONNREFUSED' });
  // Checked when the tests are type-checked: the database layer's error has the fields.
  const shaped: RenderedByProvider = outage();
  let own: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => {
    // Every read fails as the database layer fails when PostgreSQL is gone.
    class UnreachableAdapter {
      async find(): Promise<undefined> {
        throw outage();
      }
      async findByUid(): Promise<undefined> {
        throw outage();
      }
      async findByUserCode(): Promise<undefined> {
        throw outage();
      }
      async upsert() {
        throw outage();
      }
      async consume() {
        throw outage();
      }
      async destroy() {
        throw outage();
      }
      async revokeByGrantId() {
        throw outage();
      }
    }
    own = await serve(
      new Provider('http://127.0.0.1', {
        adapter: UnreachableAdapter,
        features: { clientCredentials: { enabled: true }, devInteractions: { enabled: false } },
      }),
    );
  });
  afterAll(() => own.close());

  it('renders an error by those fields, whatever its class: a database outage is a 503 temporarily_unavailable', async () => {
    expect(shaped.statusCode).toBe(503);
    const response = await form(own.url, 'grant_type=client_credentials', basicAuth('svc', 'a-test-secret'));
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable, try again shortly' });
  });

  it('answers an authorization request that meets it with the same status', async () => {
    const response = await fetch(`${own.url}/auth?client_id=app&response_type=code&scope=openid`, { headers: { accept: 'application/json' } });
    expect(response.status).toBe(503);
  });
});

describe('onGrantTypeNotAllowed (lib/actions/token.js `allowedGrantTypeCheck`, lib/shared/client_auth.js)', () => {
  const called: string[] = [];
  let own: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => {
    const clients: Configuration['clients'] = [
      { client_id: 'svc', client_secret: 'a-test-secret', grant_types: ['client_credentials'], response_types: [], redirect_uris: [] },
      {
        client_id: 'pub',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: ['https://rp.example.test/cb'],
      },
    ];
    const provider = new Provider('http://127.0.0.1', { clients, features: { clientCredentials: { enabled: true }, devInteractions: { enabled: false } } });
    onGrantTypeNotAllowed(provider, (ctx) => {
      called.push(ctx.oidc.client!.clientId);
      ctx.body = { error: 'unauthorized_client' };
    });
    own = await serve(provider);
  });
  afterAll(() => own.close());

  const answer = async (body: string, headers: Record<string, string> = {}) => {
    called.length = 0;
    const response = await form(own.url, body, headers);
    return { status: response.status, error: ((await response.json()) as { error: string }).error, called: [...called] };
  };

  it('calls the listener, after oidc-provider answered invalid_request, when an authenticated client asks for a grant type it may not use', async () => {
    expect(await answer('grant_type=authorization_code&code=x&redirect_uri=https%3A%2F%2Frp.example.test%2Fcb', basicAuth('svc', 'a-test-secret'))).toEqual({
      status: 400,
      error: 'unauthorized_client',
      called: ['svc'],
    });
    expect(await answer('grant_type=client_credentials&client_id=pub')).toEqual({ status: 400, error: 'unauthorized_client', called: ['pub'] });
  });

  it.each([
    ['a wrong secret', 'grant_type=authorization_code', basicAuth('svc', 'a-wrong-secret'), 401, 'invalid_client'],
    ['no grant_type', 'scope=openid', basicAuth('svc', 'a-test-secret'), 400, 'invalid_request'],
    ['grant_type twice', 'grant_type=authorization_code&grant_type=authorization_code', basicAuth('svc', 'a-test-secret'), 400, 'invalid_request'],
    ['an unsupported grant type', 'grant_type=password', basicAuth('svc', 'a-test-secret'), 400, 'unsupported_grant_type'],
    ['an allowed grant type refused later', 'grant_type=client_credentials&scope=a&scope=b', basicAuth('svc', 'a-test-secret'), 400, 'invalid_request'],
    [
      'a client found but not authenticated (an attestation proof without its attestation)',
      'grant_type=client_credentials&client_id=pub',
      { 'oauth-client-attestation-pop': 'x' },
      400,
      'invalid_request',
    ],
  ])('leaves every other refusal alone: %s', async (_label, body, headers, status, error) => {
    expect(await answer(body, headers)).toEqual({ status, error, called: [] });
  });
});

describe('watchRedemptions (lib/actions/grants/refresh_token.js, lib/actions/grants/authorization_code.js, lib/helpers/grant_source.js, lib/helpers/revoke.js)', () => {
  const redirectUri = 'https://rp.example.test/cb';
  const verifier = 'a-pkce-verifier-for-the-internals-test-0123456789';
  const seen: Array<RedeemedKind | undefined> = [];
  let provider: Provider;
  let own: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => {
    const clients: Configuration['clients'] = [
      {
        client_id: 'app',
        client_secret: 'a-test-secret',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [redirectUri],
      },
    ];
    provider = new Provider('http://127.0.0.1', { clients, rotateRefreshToken: true, features: { devInteractions: { enabled: false } } });
    const redeemedAgain = watchRedemptions(provider);
    provider.on('grant.error', (ctx, error) => seen.push(redeemedAgain(ctx, error)));
    own = await serve(provider);
  });
  afterAll(() => own.close());

  /** A code for a grant of its own, as an authorization request would have issued it. */
  async function issueCode() {
    const grant = new provider.Grant({ accountId: 'acc-1', clientId: 'app' });
    grant.addOIDCScope('openid offline_access');
    const grantId = await grant.save();
    const client = (await provider.Client.find('app'))!;
    const codeChallenge = createHash('sha256').update(verifier).digest('base64url');
    return new provider.AuthorizationCode({
      client,
      accountId: 'acc-1',
      grantId,
      gty: 'authorization_code',
      redirectUri,
      scope: 'openid offline_access',
      codeChallenge,
      codeChallengeMethod: 'S256',
    }).save();
  }

  const redeem = async (code: string) => {
    const response = await form(
      own.url,
      new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }).toString(),
      basicAuth('app', 'a-test-secret'),
    );
    return { status: response.status, body: (await response.json()) as Record<string, string> };
  };
  const refresh = async (token: string) =>
    (await form(own.url, new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token }).toString(), basicAuth('app', 'a-test-secret'))).status;

  it('tells a code redeemed a second time', async () => {
    const code = await issueCode();
    expect((await redeem(code)).status).toBe(200);
    seen.length = 0;
    expect((await redeem(code)).status).toBe(400);
    expect(seen).toEqual(['authorization_code']);
  });

  it('tells a refresh token used after it was rotated', async () => {
    const { body } = await redeem(await issueCode());
    expect(await refresh(body.refresh_token)).toBe(200);
    seen.length = 0;
    expect(await refresh(body.refresh_token)).toBe(400);
    expect(seen).toEqual(['refresh_token']);
  });

  it('tells nothing of a code or token that was never issued', async () => {
    seen.length = 0;
    expect((await redeem('no-such-code')).status).toBe(400);
    expect(await refresh('no-such-token')).toBe(400);
    expect(seen).toEqual([undefined, undefined]);
  });
});
