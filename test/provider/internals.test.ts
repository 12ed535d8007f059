import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { errors } from 'oidc-provider';
import { handBodyToProvider, onClientAssigned } from '../../apps/server/provider/internals.ts';

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
  fetch(`${url}/token`, { method: 'POST', headers: { authorization: `Basic ${Buffer.from(`svc:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' }, body });

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
