// A resource server the way a stranger's microservice would be written: it knows Gatehouse only
// by its issuer URL and imports nothing from this repository's other apps. The protocol work is
// oauth4webapi's (a certified library): discovery with its issuer check (RFC 8414 §3.3), and
// RFC 9068 access tokens with their RFC 9449 DPoP proofs.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa, { type Context, type Next } from 'koa';
import * as oauth from 'oauth4webapi';

export interface ExampleApiOptions {
  /** The authorization server's issuer URL; its JWKS is found through discovery. */
  issuer: string;
  /** This API's identifier: tokens must name it in `aud`. */
  audience: string;
  /**
   * The URL callers reach this API at (scheme, host, port); DPoP proofs must name it in `htu`.
   * Defaults to the address it listens on: set it behind a proxy.
   */
  publicUrl?: string;
  port?: number;
  host?: string;
  /** The clock tokens are checked against (tests inject one). */
  clock?: () => Date;
  /** Told why the authorization server's metadata could not be used (the API answers 503 meanwhile). */
  onError?: (error: unknown) => void;
  /**
   * This API's own client at Gatehouse, allowed the policy decision point's API
   * (`<issuer>/access/v1`, scope `access:evaluate`): PUT /orders/:id asks the PDP with it.
   */
  pdpClient?: { clientId: string; clientSecret: string };
  /** The orders this API holds, by id, with their owner (`user:<sub>` or `client:<client_id>`). */
  orders?: Record<string, { owner: string }>;
}

/** Gatehouse signs with ES256 and RS256; DPoP keys are ES256 or Ed25519 (oidc-provider's default list). */
const ALGORITHMS = ['ES256', 'RS256', 'Ed25519', 'EdDSA'];

/**
 * The tolerance Gatehouse itself gives the JWTs it receives (oidc-provider's default): hosts that
 * keep time with NTP differ by far less, and it is a quarter of the shortest token an API may set.
 */
const CLOCK_TOLERANCE_SECONDS = 15;

type Scheme = 'Bearer' | 'DPoP';

interface State {
  scheme: Scheme;
  token: oauth.JWTAccessTokenClaims;
}

/** RFC 6750 §3 and RFC 9449 §7.1: the challenge says which error, and for insufficient_scope, which scope. */
function challenge(ctx: Context, scheme: Scheme, status: 401 | 403, error: string, description: string, scope?: string) {
  const params = [
    `realm="example-api"`,
    `error="${error}"`,
    `error_description="${description}"`,
    ...(scope ? [`scope="${scope}"`] : []),
    ...(scheme === 'DPoP' ? [`algs="${ALGORITHMS.join(' ')}"`] : []),
  ];
  ctx.status = status;
  ctx.set('WWW-Authenticate', `${scheme} ${params.join(', ')}`);
  ctx.body = { error, error_description: description };
}

/** RFC 6750 §2.1 and RFC 9449 §7.1: `Bearer <token>` or `DPoP <token>`; schemes are case-insensitive. */
function presentedToken(ctx: Context): { scheme: Scheme; token: string } | undefined {
  const match = /^(Bearer|DPoP) ([A-Za-z0-9\-._~+/]+=*)$/i.exec(ctx.get('authorization'));
  if (!match) return undefined;
  return { scheme: match[1].toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer', token: match[2] };
}

/** Read without verifying, only to word a refusal: the token has already been refused. */
function boundToKey(token: string): boolean {
  try {
    return typeof JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).cnf?.jkt === 'string';
  } catch {
    return false;
  }
}

/** oauth4webapi names the claim that failed in the error's cause; the DPoP proof's claims among them. */
const proofMismatch: Record<string, string> = {
  htm: 'the DPoP proof is for another method',
  htu: 'the DPoP proof is for another URL',
  ath: 'the DPoP proof is for another access token',
  iat: 'the DPoP proof is not recent',
  'cnf.jkt': 'the DPoP proof is signed with another key than the one the access token is bound to',
};

function describe(error: unknown, { scheme, token }: { scheme: Scheme; token: string }): string {
  if (error instanceof oauth.OperationProcessingError) {
    const claim = (error.cause as { claim?: string } | undefined)?.claim;
    if (error.code === oauth.JWT_TIMESTAMP_CHECK && claim === 'exp') return 'the access token expired';
    if (error.code === oauth.JWT_CLAIM_COMPARISON && claim === 'aud') return 'the access token is for another audience';
    if (claim && Object.hasOwn(proofMismatch, claim)) return proofMismatch[claim];
  }
  if (scheme === 'Bearer' && boundToKey(token)) return 'the access token is DPoP-bound: present it with the DPoP scheme and a proof';
  return scheme === 'DPoP' ? 'the access token or its DPoP proof is invalid' : 'the access token is invalid';
}

export function createExampleApi({
  issuer,
  audience,
  publicUrl,
  clock = () => new Date(),
  onError = () => {},
  pdpClient,
  orders = {},
}: ExampleApiOptions & { publicUrl: string }): Koa {
  const issuerUrl = new URL(issuer);
  // An http issuer is a development setup; under an https one, nothing is fetched over http.
  const http = { [oauth.allowInsecureRequests]: issuerUrl.protocol === 'http:' };

  // Fetched once; a failure is retried by the next request. The document's issuer must be the
  // configured one, or its jwks_uri could name anyone's keys. oauth4webapi refreshes the JWKS
  // itself (every 5 minutes, and for an unknown kid).
  let discovered: Promise<oauth.AuthorizationServer> | undefined;
  const authorizationServer = () =>
    (discovered ??= oauth
      .discoveryRequest(issuerUrl, { algorithm: 'oidc', ...http })
      .then((response) => oauth.processDiscoveryResponse(issuerUrl, response))
      .catch((error) => {
        discovered = undefined;
        throw error;
      }));

  /** The request as oauth4webapi reads it; its URL is built on publicUrl, never on the Host header a caller chooses. */
  function fetchRequest(ctx: Context): Request {
    const headers = new Headers({ authorization: ctx.get('authorization') });
    if (ctx.get('dpop')) headers.set('dpop', ctx.get('dpop'));
    return new Request(Object.assign(new URL(publicUrl), { pathname: ctx.path }), { method: ctx.method, headers });
  }

  async function authenticate(ctx: Context, next: Next) {
    const presented = presentedToken(ctx);
    if (!presented) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer realm="example-api"');
      ctx.body = { error: 'invalid_token', error_description: 'a Bearer or DPoP access token is required' };
      return;
    }
    let as: oauth.AuthorizationServer;
    try {
      as = await authorizationServer();
    } catch (error) {
      onError(error);
      ctx.status = 503;
      ctx.body = { error: 'temporarily_unavailable', error_description: 'the authorization server cannot be trusted or reached' };
      return;
    }
    try {
      const token = await oauth.validateJwtAccessToken(as, fetchRequest(ctx), audience, {
        requireDPoP: presented.scheme === 'DPoP',
        signingAlgorithms: ALGORITHMS,
        // oauth4webapi reads Date.now(): an injected clock becomes its skew.
        [oauth.clockSkew]: Math.round((clock().getTime() - Date.now()) / 1000),
        [oauth.clockTolerance]: CLOCK_TOLERANCE_SECONDS,
        ...http,
      });
      Object.assign(ctx.state as State, { scheme: presented.scheme, token });
    } catch (error) {
      const scheme = presented.scheme === 'DPoP' || boundToKey(presented.token) ? 'DPoP' : 'Bearer';
      return challenge(ctx, scheme, 401, 'invalid_token', describe(error, presented));
    }
    await next();
  }

  const requireScope = (scope: string) =>
    async function checkScope(ctx: Context, next: Next) {
      const { scheme, token } = ctx.state as State;
      if (
        !String(token.scope ?? '')
          .split(' ')
          .includes(scope)
      )
        return challenge(ctx, scheme, 403, 'insufficient_scope', `this route needs the ${scope} scope`, scope);
      await next();
    };

  const decisions = createPdp({ issuerUrl, http, pdpClient, authorizationServer, clock });

  /** Scope checks say what a client may do in general; the policy decision point says whether this caller may update this order. */
  async function updateOrder(ctx: Context) {
    const { token } = ctx.state as State;
    const order = orders[ctx.params.id];
    if (!order) {
      ctx.status = 404;
      ctx.body = { error: 'not_found' };
      return;
    }
    const [type, id] = order.owner.split(/:(.*)/s);
    let permitted: boolean;
    try {
      permitted = await decisions.evaluate({
        subject: { type: token.sub === token.client_id ? 'client' : 'user', id: token.sub },
        action: { name: 'update' },
        resource: { type: 'order', id: ctx.params.id, properties: { owner: { type, id } } },
      });
    } catch (error) {
      onError(error);
      ctx.status = 503;
      ctx.body = { error: 'temporarily_unavailable', error_description: 'the policy decision point cannot be reached' };
      return;
    }
    if (!permitted) {
      ctx.status = 403;
      ctx.body = { error: 'forbidden', error_description: 'the policy decision point denied this update' };
      return;
    }
    ctx.body = { updated: ctx.params.id };
  }

  const routes: Record<string, { scope: string; handle(ctx: Context): unknown }> = {
    'GET /orders': {
      scope: 'orders:read',
      handle: (ctx) => (ctx.body = { orders: [], caller: (ctx.state as State).token.client_id, subject: (ctx.state as State).token.sub }),
    },
    'POST /orders': {
      scope: 'orders:write',
      handle: (ctx) => {
        ctx.status = 201;
        ctx.body = { created: true };
      },
    },
    'PUT /orders/:id': { scope: 'orders:write', handle: updateOrder },
  };
  const routeOf = (method: string, path: string) => {
    const id = /^\/orders\/([^/]+)$/.exec(path)?.[1];
    return id === undefined
      ? { found: routes[`${method} ${path}`], params: {} }
      : { found: routes[`${method} /orders/:id`], params: { id: decodeURIComponent(id) } };
  };

  const app = new Koa();
  app.silent = true;
  app.use(async function route(ctx, next) {
    const { found, params } = routeOf(ctx.method, ctx.path);
    ctx.params = params;
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

interface Evaluation {
  subject: { type: string; id: string };
  action: { name: string };
  resource: { type: string; id: string; properties?: Record<string, unknown> };
}

/**
 * The policy decision point as an AuthZEN client sees it: its endpoint from
 * /.well-known/authzen-configuration (whose policy_decision_point must be the issuer, or the
 * document is not used), and an access token for it from the client_credentials grant, reused
 * until shortly before it expires.
 */
function createPdp({
  issuerUrl,
  http,
  pdpClient,
  authorizationServer,
  clock,
}: {
  issuerUrl: URL;
  http: Record<symbol, boolean>;
  pdpClient?: { clientId: string; clientSecret: string };
  authorizationServer: () => Promise<oauth.AuthorizationServer>;
  clock: () => Date;
}) {
  const issuer = issuerUrl.href.replace(/\/$/, '');
  let endpoint: Promise<string> | undefined;
  let token: { value: string; renewAt: number } | undefined;

  const discover = () =>
    (endpoint ??= fetch(`${issuer}/.well-known/authzen-configuration`)
      .then(async (response) => {
        const metadata = (await response.json()) as { policy_decision_point?: string; access_evaluation_endpoint?: string };
        if (metadata.policy_decision_point !== issuer || !metadata.access_evaluation_endpoint)
          throw new Error('the AuthZEN metadata names another policy decision point');
        return metadata.access_evaluation_endpoint;
      })
      .catch((error) => {
        endpoint = undefined;
        throw error;
      }));

  async function accessToken(): Promise<string> {
    if (token && clock().getTime() < token.renewAt) return token.value;
    if (!pdpClient) throw new Error('no client configured to ask the policy decision point');
    const as = await authorizationServer();
    const client = { client_id: pdpClient.clientId };
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      client,
      oauth.ClientSecretBasic(pdpClient.clientSecret),
      new URLSearchParams({ resource: `${issuer}/access/v1`, scope: 'access:evaluate' }),
      http,
    );
    const result = await oauth.processClientCredentialsResponse(as, client, response);
    token = { value: result.access_token, renewAt: clock().getTime() + Math.max(0, (result.expires_in ?? 60) - 30) * 1000 };
    return token.value;
  }

  return {
    async evaluate(request: Evaluation): Promise<boolean> {
      const response = await fetch(await discover(), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await accessToken()}` },
        body: JSON.stringify(request),
      });
      if (response.status !== 200) throw new Error(`the policy decision point answered ${response.status}`);
      return ((await response.json()) as { decision?: unknown }).decision === true;
    },
  };
}

/** Starts the example API; resolves with its URL and a close function. */
export async function startExampleApi(options: ExampleApiOptions): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${options.host ?? '127.0.0.1'}:${port}`;
  // Attached once the port is known: DPoP proofs name the URL, which includes it.
  server.on('request', createExampleApi({ ...options, publicUrl: options.publicUrl ?? url }).callback());
  return {
    url,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
