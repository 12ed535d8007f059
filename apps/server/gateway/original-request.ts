import type { IncomingHttpHeaders } from 'node:http';
import { parseRequestPath } from '../../core/gateway/request-path.ts';
import { hostnameOf } from '../../core/gateway/route-table.ts';

/** The request a gateway asks about: what it reports, checked. Data about that request, never about the caller. */
export interface OriginalRequest {
  method: string;
  scheme: 'http' | 'https';
  /** As reported, with its port: DPoP proofs name it in `htu`. */
  host: string;
  /** Lower case, without the port: what routes name. */
  hostname: string;
  /** The request target as sent (path and query), for the return after sign-in. */
  uri: string;
  /** The raw path, without the query. */
  path: string;
  /** Decoded segments (core/gateway/request-path.ts). */
  segments: string[];
}

export type OriginalRead = { ok: true; request: OriginalRequest } | { ok: false; reason: string };

/**
 * The three ways gateways report the request they are deciding on:
 * - nginx `auth_request` (`/edge/v1/auth-request`): X-Original-Method, X-Original-URI, the host
 *   in X-Original-Host (else Host) and the scheme in X-Original-Proto; nginx sends the
 *   subrequest with the client's own headers, so its configuration must set each of these;
 * - Traefik `forwardAuth` and Caddy `forward_auth` (`/edge/v1/forward-auth`): X-Forwarded-Method,
 *   -Proto, -Host and -Uri, which both set from the request they received;
 * - Envoy's HTTP `ext_authz` (`/edge/v1/ext-authz` + the original path): the method, path and
 *   Host of the check request are the original's; X-Forwarded-Proto when allowed through.
 */
export type Adapter = 'auth-request' | 'forward-auth' | 'ext-authz';

const methodToken = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/;

/** A header that must hold one value: Node joins repeated ones with ", ", which is a conflict here. */
function one(headers: IncomingHttpHeaders, name: string): { value?: string; conflict?: true } {
  const value = headers[name];
  if (value === undefined || value === '') return {};
  if (typeof value !== 'string' || value.includes(',')) return { conflict: true };
  return { value: value.trim() };
}

/** Where each adapter's gateway reports the original method, host and scheme. */
const headerNames: Record<Adapter, { method?: string; host?: string; proto: string }> = {
  'auth-request': { method: 'x-original-method', host: 'x-original-host', proto: 'x-original-proto' },
  'forward-auth': { method: 'x-forwarded-method', host: 'x-forwarded-host', proto: 'x-forwarded-proto' },
  'ext-authz': { proto: 'x-forwarded-proto' },
};

/** Reads the original request from a gateway's call; `uri` is the ext-authz path after the prefix. */
export function readOriginalRequest(adapter: Adapter, method: string | undefined, headers: IncomingHttpHeaders, extAuthzUri?: string): OriginalRead {
  const refuse = (reason: string): OriginalRead => ({ ok: false, reason });
  const names = headerNames[adapter];

  const reported = names.method ? one(headers, names.method) : { value: method };
  if (reported.conflict) return refuse(`conflicting ${names.method} headers`);
  if (!reported.value) return refuse(`the original method is missing (${names.method})`);
  if (!methodToken.test(reported.value)) return refuse('the original method is not an HTTP method');

  let host = names.host ? one(headers, names.host) : {};
  if (host.conflict) return refuse(`conflicting ${names.host} headers`);
  // nginx may leave the host to Host (the "X-Original-Host, else Host"); Traefik always reports it.
  if (!host.value && adapter !== 'forward-auth') host = one(headers, 'host');
  if (host.conflict) return refuse('conflicting Host headers');
  if (!host.value) return refuse(`the original host is missing (${names.host ?? 'host'})`);
  const hostname = hostnameOf(host.value);
  if (!hostname) return refuse('the original host is not a host name');

  const proto = one(headers, names.proto);
  if (proto.conflict) return refuse(`conflicting ${names.proto} headers`);
  // Unknown: https, so a DPoP proof for plain http is never taken for a request that may have used TLS.
  const scheme = (proto.value ?? 'https').toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return refuse('the original scheme is neither http nor https');

  let uri: string | undefined;
  if (adapter === 'ext-authz') uri = extAuthzUri;
  else {
    const name = adapter === 'auth-request' ? 'x-original-uri' : 'x-forwarded-uri';
    const value = headers[name];
    if (Array.isArray(value)) return refuse(`conflicting ${name} headers`);
    uri = value;
    if (!uri) return refuse(`the original URI is missing (${name})`);
  }
  const path = parseRequestPath(uri);
  if (!path.ok) return refuse(path.reason);
  return {
    ok: true,
    request: { method: reported.value, scheme, host: host.value.toLowerCase(), hostname, uri: uri!, path: path.path, segments: path.segments },
  };
}
