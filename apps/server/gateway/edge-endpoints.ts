import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { requestScope } from '../../core/request-context.ts';
import { single, writeJson, type EdgeDeps } from '../http/edge.ts';
import { createProxyMatcher, peerAddress } from '../http/client-ip.ts';
import { recordRequest, requestIdFrom } from '../http/request-log.ts';
import { securityHeaderValues } from '../http/security-headers.ts';
import { paths } from '../paths.ts';
import type { Decision, DecisionEngine } from './decision-engine.ts';
import { DPOP_ALGORITHMS } from './dpop-proof.ts';
import { readOriginalRequest, type Adapter, type OriginalRequest } from './original-request.ts';

export interface EdgeEndpointDeps extends Pick<EdgeDeps, 'log' | 'https' | 'metrics'> {
  engine: Pick<DecisionEngine, 'decide'>;
  /** EDGE_CALLERS: who may ask. */
  callers: string[];
  /** Where a browser without credentials on a --login route signs in, given the URL to return to. */
  signInUrl: (returnTo: string) => string;
}

const extAuthzPrefix = `${paths.edgeExtAuthz}/`;
// Metric and log route labels: fixed, whatever original path an Envoy call carries.
const routeLabels: Record<Adapter, string> = {
  'auth-request': paths.edgeAuthRequest,
  'forward-auth': paths.edgeForwardAuth,
  'ext-authz': `${paths.edgeExtAuthz}/*`,
};
const dpopAlgorithms = DPOP_ALGORITHMS.join(' ');

type Outcome = { decision: Decision | { kind: 'unavailable' }; original?: OriginalRequest };

/** RFC 6750 §3 and RFC 9449 §7.1 challenges. The values are Gatehouse's own words and API URIs: no quote to escape. */
function challengeOf(decision: Extract<Decision, { kind: 'deny' }>): string | undefined {
  if (!decision.challenge) return undefined;
  const params = [`realm="${decision.realm}"`, `error="${decision.error}"`, `error_description="${decision.description}"`];
  if (decision.scope) params.push(`scope="${decision.scope}"`);
  if (decision.challenge === 'DPoP') params.push(`algs="${dpopAlgorithms}"`);
  return `${decision.challenge} ${params.join(', ')}`;
}

/**
 * The decision endpoints, answered before Koa: every request a gateway passes on asks one, so
 * they take the path discovery and JWKS take (provider/metadata-edge.ts), with the same request id, log
 * line and metrics. They are not counted against the per-address request ceiling: a gateway
 * asks for every client behind it from one address, and who may ask at all is EDGE_CALLERS.
 *
 * The caller is the TCP peer. X-Forwarded-For on these requests names the protected request's
 * client (Traefik sets it so), so no proxy list is consulted: a gateway must connect directly,
 * or EDGE_CALLERS must name what connects for it. The original request is read from the headers
 * as they arrived, before anything strips X-Forwarded-* from untrusted peers (client-ip.ts runs
 * only on Koa's path).
 */
export function createEdgeEndpoints({ engine, callers, signInUrl, log, https = false, metrics }: EdgeEndpointDeps) {
  const isCaller = createProxyMatcher(callers);
  const security = securityHeaderValues({ https });

  async function decideFor(adapter: Adapter, req: IncomingMessage, extAuthzUri: string | undefined): Promise<Outcome> {
    const read = readOriginalRequest(adapter, req.method, req.headers, extAuthzUri);
    if (!read.ok) return { decision: { kind: 'deny', status: 403, error: 'access_denied', description: read.reason } };
    const { headers } = req;
    const credentials = { authorization: single(headers.authorization), dpop: single(headers.dpop), cookie: single(headers.cookie) };
    return { decision: await engine.decide(read.request, credentials), original: read.request };
  }

  async function answer(adapter: Adapter, req: IncomingMessage, res: ServerResponse, extAuthzUri: string | undefined) {
    const started = performance.now();
    const requestId = requestIdFrom(single(req.headers['x-request-id']));
    const ip = peerAddress(req.socket.remoteAddress ?? '');
    // Envoy may send the original body; nothing here reads it.
    req.resume();
    let outcome: Outcome;
    try {
      outcome = isCaller(ip)
        ? await decideFor(adapter, req, extAuthzUri)
        : { decision: { kind: 'deny', status: 403, error: 'access_denied', description: 'this address may not ask for edge decisions (EDGE_CALLERS)' } };
    } catch (error) {
      log.error({ err: error }, 'edge decision failed');
      outcome = { decision: { kind: 'unavailable' } };
    }
    const { decision, original } = outcome;
    const base = { 'X-Request-Id': requestId, ...security, 'Cache-Control': 'no-store' };
    let status: number;
    if (decision.kind === 'allow') {
      status = 200;
      // Read by the gateway alone (each copies only the identity headers on): no page headers.
      res.writeHead(200, { 'X-Request-Id': requestId, 'Cache-Control': 'no-store', ...decision.headers, 'Content-Length': '0' });
      res.end();
    } else if (decision.kind === 'unavailable') {
      // Not a verdict on the credential (the directory or the signing key could not be had): nginx makes any 5xx a 500.
      status = 503;
      writeJson(
        res,
        503,
        { ...base, 'Retry-After': '5' },
        { error: 'temporarily_unavailable', error_description: 'the decision could not be made, try again shortly' },
      );
    } else if (decision.kind === 'sign_in' && adapter !== 'auth-request') {
      // Traefik and Envoy hand this answer to the browser; nginx's auth_request cannot redirect.
      status = 302;
      res.writeHead(302, { ...base, Location: signInUrl(`${original!.scheme}://${original!.host}${original!.uri}`) });
      res.end();
    } else {
      const deny: Extract<Decision, { kind: 'deny' }> =
        decision.kind === 'sign_in'
          ? {
              kind: 'deny',
              status: 401,
              error: 'invalid_token',
              description: 'an access token or a sign-in is required',
              challenge: 'Bearer',
              realm: decision.realm,
            }
          : decision;
      status = deny.status;
      const challenge = challengeOf(deny);
      const headers = {
        ...base,
        ...(challenge && { 'WWW-Authenticate': challenge }),
        // nginx: `auth_request_set $edge_sign_in $upstream_http_x_gatehouse_sign_in;` then `error_page 401 = @sign_in`.
        ...(decision.kind === 'sign_in' && { 'X-Gatehouse-Sign-In': signInUrl(`${original!.scheme}://${original!.host}${original!.uri}`) }),
      };
      writeJson(res, status, headers, { error: deny.error, error_description: deny.description });
      if (log.isLevelEnabled('debug'))
        requestScope.run({ requestId, ip }, () =>
          log.debug({ adapter, status, error: deny.error, reason: deny.description, host: original?.hostname, method: original?.method }, 'edge denied'),
        );
    }
    const route = routeLabels[adapter];
    requestScope.run({ requestId, path: route, ip }, () =>
      recordRequest(log, metrics, {
        method: req.method ?? 'GET',
        route,
        path: original?.path ?? route,
        status,
        seconds: (performance.now() - started) / 1000,
        ip,
      }),
    );
  }

  /** Answers the decision endpoints and hands everything else (the sign-in pages among it) to `next`. */
  return function listener(next: RequestListener): RequestListener {
    return function edgeFirst(req, res) {
      const url = req.url ?? '/';
      if (!url.startsWith('/edge/')) return next(req, res);
      const query = url.indexOf('?');
      const path = query === -1 ? url : url.slice(0, query);
      if (path === paths.edgeAuthRequest) return void answer('auth-request', req, res, undefined);
      if (path === paths.edgeForwardAuth) return void answer('forward-auth', req, res, undefined);
      // Envoy's path_prefix is prepended to the original path (and its query).
      if (url.startsWith(extAuthzPrefix)) return void answer('ext-authz', req, res, url.slice(paths.edgeExtAuthz.length));
      if (path === paths.edgeExtAuthz) return void answer('ext-authz', req, res, '');
      next(req, res);
    };
  };
}
