// The baseline: oidc-provider alone (memory adapter, one static client, one resource server,
// the same token format and signing algorithm as Gatehouse), and no Gatehouse code at all.
import { createServer } from 'node:http';
import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';

const { PORT = '55402', CLIENT_ID = 'bare', CLIENT_SECRET = 'bare-secret', AUDIENCE = 'https://bench-jwt.example.test', ALG = 'ES256' } = process.env;
const issuer = `http://127.0.0.1:${PORT}`;
const { privateKey } = await generateKeyPair(ALG, { extractable: true });
const provider = new Provider(issuer, {
  jwks: { keys: [{ ...(await exportJWK(privateKey)), alg: ALG, use: 'sig', kid: 'bare' }] },
  clientDefaults: { id_token_signed_response_alg: ALG as 'ES256' },
  clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => AUDIENCE,
      getResourceServerInfo: () => ({
        scope: 'bench:read',
        audience: AUDIENCE,
        accessTokenTTL: 3600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: ALG as 'ES256' } },
      }),
    },
  },
});
const server = createServer(provider.callback());
server.keepAliveTimeout = 65_000;
server.listen(Number(PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
