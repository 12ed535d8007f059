// Machine-to-machine load: client_credentials (JWT and opaque), introspection, discovery and JWKS
// against Gatehouse, and the same client_credentials load against a bare oidc-provider.
import { basicAuth, form, load, startProcess, type CaseResult, type ServerProcess, type StartOptions } from './harness.ts';
import type { BenchContext } from './run.ts';

export const JWT_API = 'https://bench-jwt.example.test';
export const OPAQUE_API = 'https://bench-opaque.example.test';
const introspectedTokens = 1000;
export const goals = { jwt: 5000, opaque: 3500, introspection: 4000, metadata: 15000, jwtVsBare: 0.9, clusterSpeedup: 1.5, peakRssMb: 200 };

export async function seedM2m({ services }: Pick<BenchContext, 'services'>) {
  for (const [identifier, tokenFormat] of [
    [JWT_API, 'jwt'],
    [OPAQUE_API, 'opaque'],
  ] as const) {
    if (!(await services.apis.findByIdentifier(identifier))) await services.apis.create({ identifier, scopes: ['bench:read'], tokenFormat });
  }
  const created = await services.clients.create({ name: 'bench service', grantTypes: ['client_credentials'] });
  await services.apis.grantClient({ clientId: created.clientId, identifier: JWT_API });
  await services.apis.grantClient({ clientId: created.clientId, identifier: OPAQUE_API });
  // The APIs' own service, which introspects their tokens (gatehouse api add-resource-server).
  const resourceServer = await services.clients.create({ name: 'bench API service', grantTypes: ['client_credentials'] });
  for (const identifier of [JWT_API, OPAQUE_API]) await services.apis.addResourceServer({ clientId: resourceServer.clientId, identifier });
  // Known heavy services: what `gatehouse client update ID --rate-limit` does (server-env.ts).
  for (const { clientId } of [created, resourceServer]) await services.clients.update(clientId, { rateLimit: '1000000/s', rateLimitBurst: 1_000_000 });
  return {
    client: { id: created.clientId, secret: created.clientSecret! },
    resourceServer: { id: resourceServer.clientId, secret: resourceServer.clientSecret! },
  };
}

export const tokenRequest = (url: string, id: string, secret: string, resource: string) => ({
  url: `${url}/token`,
  method: 'POST' as const,
  headers: { authorization: basicAuth(id, secret), 'content-type': 'application/x-www-form-urlencoded' },
  body: form({ grant_type: 'client_credentials', resource, scope: 'bench:read' }),
});

/** The mean of two runs of one case (latencies too), errors added up. */
function mean(a: CaseResult, b: CaseResult): CaseResult {
  const avg = (x: number, y: number) => Math.round(((x + y) / 2) * 100) / 100;
  const cpu = a.serverCpuMs !== undefined && b.serverCpuMs !== undefined ? +((a.serverCpuMs + b.serverCpuMs) / 2).toFixed(3) : undefined;
  return {
    ...a,
    requestsPerSecond: Math.round((a.requestsPerSecond + b.requestsPerSecond) / 2),
    p50Ms: avg(a.p50Ms, b.p50Ms),
    p99Ms: avg(a.p99Ms, b.p99Ms),
    errors: a.errors + b.errors,
    non2xx: a.non2xx + b.non2xx,
    serverCpuMs: cpu,
  };
}

/**
 * Two servers under the same load, run as A, B, B, A: on a shared 2-core machine throughput
 * drifts over minutes, and this order cancels a steady drift out of their ratio. Each side
 * reports its mean.
 */
export async function interleaved(a: () => Promise<CaseResult>, b: () => Promise<CaseResult>): Promise<[CaseResult, CaseResult]> {
  const a1 = await a();
  const [b1, b2] = [await b(), await b()];
  const a2 = await a();
  return [mean(a1, a2), mean(b1, b2)];
}

const jwtCase = (section: string, server: ServerProcess, client: { id: string; secret: string }) => () =>
  load(section, 'client_credentials JWT', { server, ...tokenRequest(server.url, client.id, client.secret, JWT_API) }, goals.jwt);

/** Gatehouse's JWT case, and with `bare` the same load against the bare oidc-provider, interleaved. */
async function jwtCases(s: string, server: ServerProcess, client: { id: string; secret: string }, bare?: ServerProcess): Promise<CaseResult[]> {
  const ours = jwtCase(s, server, client);
  if (!bare) return [await ours()];
  const theirs = () => load('bare', 'client_credentials JWT (bare oidc-provider)', { server: bare, ...tokenRequest(bare.url, 'bare', 'bare-secret', JWT_API) });
  const [gatehouse, bareProvider] = await interleaved(ours, theirs);
  return [gatehouse, { ...bareProvider, peakRssMb: bare.peakRssMb() } as CaseResult];
}

/**
 * The JWT case against a plain single process (`ctx.gatehouse`) and against a variant of it
 * (rate limiter on, or `WEB_CONCURRENCY=2`), both running, interleaved, so their ratio is
 * measured over the same minutes rather than against a run taken minutes earlier.
 */
export async function comparedJwtCases(
  ctx: BenchContext,
  variant: ServerProcess,
  labels: { plain: string; variant: string },
): Promise<[plain: CaseResult, variant: CaseResult]> {
  const { client } = await seedM2m(ctx);
  return interleaved(jwtCase(labels.plain, ctx.gatehouse, client), jwtCase(labels.variant, variant, client));
}

export async function m2mCases(ctx: BenchContext): Promise<CaseResult[]> {
  const { client, resourceServer } = await seedM2m(ctx);
  const server = ctx.gatehouse;
  const url = server.url;
  const s = 'm2m';
  const results: CaseResult[] = [];
  results.push(...(await jwtCases(s, server, client, ctx.bare)));
  results.push(await load(s, 'client_credentials opaque', { server, ...tokenRequest(url, client.id, client.secret, OPAQUE_API) }, goals.opaque));

  // Resource servers introspect many different tokens, not one over and over.
  for (const [format, api] of [
    ['opaque', OPAQUE_API],
    ['JWT', JWT_API],
  ] as const) {
    const tokens: string[] = [];
    for (let batch = 0; batch < introspectedTokens / 50; batch++) {
      const issued = await Promise.all(
        Array.from({ length: 50 }, () =>
          fetch(`${url}/token`, tokenRequest(url, client.id, client.secret, api)).then((r) => r.json() as Promise<{ access_token: string }>),
        ),
      );
      tokens.push(...issued.map((t) => t.access_token));
    }
    const introspected = (await (
      await fetch(`${url}/token/introspection`, {
        method: 'POST',
        headers: { authorization: basicAuth(resourceServer.id, resourceServer.secret), 'content-type': 'application/x-www-form-urlencoded' },
        body: form({ token: tokens[0] }),
      })
    ).json()) as { active?: boolean };
    if (!introspected.active) throw new Error(`bench: the ${format} token does not introspect as active`);
    results.push(
      await load(
        s,
        `introspection (${format}, ${introspectedTokens} tokens in turn)`,
        {
          server,
          url: `${url}/token/introspection`,
          method: 'POST',
          headers: { authorization: basicAuth(resourceServer.id, resourceServer.secret), 'content-type': 'application/x-www-form-urlencoded' },
          bodies: tokens.map((token) => form({ token })),
        },
        goals.introspection,
      ),
    );
  }
  results.push(await load(s, 'discovery', { server, url: `${url}/.well-known/openid-configuration` }, goals.metadata));
  results.push(await load(s, 'JWKS', { server, url: `${url}/jwks` }, goals.metadata));
  return results;
}

/**
 * oidc-provider alone, for the same client_credentials JWT load (see jwtCases), under the same
 * Node flags and environment as Gatehouse (`npm start`'s), so that the ratio compares code, not
 * runtime tuning: the memory-bounding flags cost either server about a fifth of its JWT rate.
 */
export function startBare(port: number, runtime: { env: Record<string, string>; nodeArgs: string[] }, options?: StartOptions): Promise<ServerProcess> {
  const url = `http://127.0.0.1:${port}`;
  return startProcess(
    new URL('./bare-provider.ts', import.meta.url).pathname,
    { ...runtime.env, PORT: String(port), AUDIENCE: JWT_API },
    url,
    '/.well-known/openid-configuration',
    runtime.nodeArgs,
    options,
  );
}
