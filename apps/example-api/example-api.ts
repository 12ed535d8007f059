// A resource server the way a stranger's microservice would be written: it knows Gatehouse only
// by its issuer URL and imports nothing from this repository's other apps.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import Koa, { type Context, type Next } from 'koa';

export interface ExampleApiOptions {
  /** The authorization server's issuer URL; its JWKS is found through discovery. */
  issuer: string;
  /** This API's identifier: tokens must name it in `aud`. */
  audience: string;
  port?: number;
  host?: string;
  /** The clock tokens are checked against (tests inject one). */
  clock?: () => Date;
}

interface State {
  token: JWTPayload & { scope?: string; client_id?: string };
}

/** RFC 6750 §3: the challenge says which error, and for insufficient_scope, which scope. */
function challenge(ctx: Context, status: 401 | 403, error: string, description: string, scope?: string) {
  const params = [`realm="example-api"`, `error="${error}"`, `error_description="${description}"`, ...(scope ? [`scope="${scope}"`] : [])];
  ctx.status = status;
  ctx.set('WWW-Authenticate', `Bearer ${params.join(', ')}`);
  ctx.body = { error, error_description: description };
}

export function createExampleApi({ issuer, audience, clock = () => new Date() }: ExampleApiOptions): Koa {
  const issuerUrl = issuer.replace(/\/$/, '');
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  // jose caches the key set and refetches it (at most every 30 s) when a token names an unknown kid.
  async function keySet() {
    if (!jwks) {
      const discovery = await fetch(`${issuerUrl}/.well-known/openid-configuration`);
      if (!discovery.ok) throw new Error(`discovery failed with ${discovery.status}`);
      const { jwks_uri: jwksUri } = (await discovery.json()) as { jwks_uri: string };
      jwks = createRemoteJWKSet(new URL(jwksUri));
    }
    return jwks;
  }

  async function authenticate(ctx: Context, next: Next) {
    const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/.exec(ctx.get('authorization'));
    if (!match) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer realm="example-api"');
      ctx.body = { error: 'invalid_token', error_description: 'a Bearer access token is required' };
      return;
    }
    try {
      const { payload } = await jwtVerify(match[1], await keySet(), { issuer: issuerUrl, audience, typ: 'at+jwt', algorithms: ['ES256', 'RS256'], currentDate: clock() });
      (ctx.state as State).token = payload;
    } catch (error) {
      const description = error instanceof joseErrors.JWTExpired ? 'the access token expired'
        : error instanceof joseErrors.JWTClaimValidationFailed && error.claim === 'aud' ? 'the access token is for another audience'
        : 'the access token is invalid';
      return challenge(ctx, 401, 'invalid_token', description);
    }
    await next();
  }

  const requireScope = (scope: string) => async function checkScope(ctx: Context, next: Next) {
    const granted = String((ctx.state as State).token.scope ?? '').split(' ');
    if (!granted.includes(scope)) return challenge(ctx, 403, 'insufficient_scope', `this route needs the ${scope} scope`, scope);
    await next();
  };

  const routes: Record<string, { scope: string; handle(ctx: Context): void }> = {
    'GET /orders': { scope: 'orders:read', handle: (ctx) => (ctx.body = { orders: [], caller: (ctx.state as State).token.client_id, subject: (ctx.state as State).token.sub }) },
    'POST /orders': { scope: 'orders:write', handle: (ctx) => ((ctx.status = 201), (ctx.body = { created: true })) },
  };

  const app = new Koa();
  app.silent = true;
  app.use(async function route(ctx, next) {
    const found = routes[`${ctx.method} ${ctx.path}`];
    if (!found) {
      ctx.status = 404;
      ctx.body = { error: 'not_found' };
      return;
    }
    await authenticate(ctx, () => requireScope(found.scope)(ctx, async () => found.handle(ctx)));
    await next();
  });
  return app;
}

/** Starts the example API; resolves with its URL and a close function. */
export async function startExampleApi(options: ExampleApiOptions): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer(createExampleApi(options).callback());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    server,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
