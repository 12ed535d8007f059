// Machine-to-machine load: client_credentials (JWT and opaque), introspection, discovery and JWKS
// against Gatehouse, and the same client_credentials load against a bare oidc-provider.
import { basicAuth, form, load, startProcess, type CaseResult } from './harness.ts';
import type { BenchContext } from './run.ts';

const JWT_API = 'https://bench-jwt.example.test';
const OPAQUE_API = 'https://bench-opaque.example.test';
export const goals = { jwt: 5000, opaque: 3500, introspection: 4000, metadata: 15000, jwtVsBare: 0.9, clusterSpeedup: 1.5, peakRssMb: 200 };

export async function seedM2m({ services }: BenchContext) {
  for (const [identifier, tokenFormat] of [[JWT_API, 'jwt'], [OPAQUE_API, 'opaque']] as const) {
    if (!(await services.apis.findByIdentifier(identifier))) await services.apis.create({ identifier, scopes: ['bench:read'], tokenFormat });
  }
  const created = await services.clients.create({ name: 'bench service', grantTypes: ['client_credentials'] });
  await services.apis.grantClient({ clientId: created.clientId, identifier: JWT_API });
  await services.apis.grantClient({ clientId: created.clientId, identifier: OPAQUE_API });
  const resourceServer = await services.clients.create({ name: 'bench opaque API', grantTypes: ['client_credentials'] });
  await services.apis.grantClient({ clientId: resourceServer.clientId, identifier: OPAQUE_API });
  return {
    client: { id: created.clientId, secret: created.clientSecret! },
    resourceServer: { id: resourceServer.clientId, secret: resourceServer.clientSecret! },
  };
}

const tokenRequest = (url: string, id: string, secret: string, resource: string) => ({
  url: `${url}/token`,
  method: 'POST' as const,
  headers: { authorization: basicAuth(id, secret), 'content-type': 'application/x-www-form-urlencoded' },
  body: form({ grant_type: 'client_credentials', resource, scope: 'bench:read' }),
});

export async function m2mCases(ctx: BenchContext, label = ''): Promise<CaseResult[]> {
  const { client, resourceServer } = await seedM2m(ctx);
  const url = ctx.gatehouse.url;
  const s = `m2m${label}`;
  const results: CaseResult[] = [];
  results.push(await load(s, 'client_credentials JWT', tokenRequest(url, client.id, client.secret, JWT_API), goals.jwt));
  results.push(await load(s, 'client_credentials opaque', tokenRequest(url, client.id, client.secret, OPAQUE_API), goals.opaque));

  const issued = await fetch(`${url}/token`, tokenRequest(url, client.id, client.secret, OPAQUE_API));
  const { access_token: token } = (await issued.json()) as { access_token: string };
  results.push(await load(s, 'introspection (opaque)', {
    url: `${url}/token/introspection`,
    method: 'POST',
    headers: { authorization: basicAuth(resourceServer.id, resourceServer.secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: form({ token }),
  }, goals.introspection));
  results.push(await load(s, 'discovery', { url: `${url}/.well-known/openid-configuration` }, goals.metadata));
  results.push(await load(s, 'JWKS', { url: `${url}/jwks` }, goals.metadata));
  return results;
}

/** The same client_credentials JWT load against oidc-provider alone. */
export async function bareCases(port: number): Promise<CaseResult[]> {
  const url = `http://127.0.0.1:${port}`;
  const bare = await startProcess(new URL('./bare-provider.ts', import.meta.url).pathname, { PORT: String(port), AUDIENCE: JWT_API }, url, '/.well-known/openid-configuration');
  try {
    const result = await load('bare', 'client_credentials JWT (bare oidc-provider)', tokenRequest(url, 'bare', 'bare-secret', JWT_API));
    return [{ ...result, peakRssMb: bare.peakRssMb() } as CaseResult];
  } finally {
    await bare.stop();
  }
}
