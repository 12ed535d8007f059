import { BlockList, isIP } from 'node:net';
import type { Context, Next } from 'koa';

const forwardedHeaders = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'forwarded'];

/** The TCP peer's address, an IPv4-mapped IPv6 address as plain IPv4. */
export const peerAddress = (ip: string) => (ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip);

/** A matcher for the configured proxies (single addresses or CIDR ranges, IPv4 or IPv6). */
export function createProxyMatcher(trustedProxies: string[]): (ip: string) => boolean {
  if (trustedProxies.length === 0) return () => false;
  const list = new BlockList();
  for (const entry of trustedProxies) {
    const [address, bits] = entry.split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  return (ip) => {
    const family = isIP(ip);
    return family !== 0 && list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
  };
}

/**
 * A hop of X-Forwarded-For as an address: bare, or with the port some load balancers add
 * (`203.0.113.5:51234`, `[2001:db8::1]:443`). Undefined for anything else (`unknown`, RFC 7239
 * obfuscated identifiers such as `_hidden`).
 */
function hopAddress(hop: string): string | undefined {
  if (isIP(hop)) return peerAddress(hop);
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(hop);
  if (bracketed && isIP(bracketed[1]) === 6) return peerAddress(bracketed[1]);
  const withPort = /^([\d.]+):\d{1,5}$/.exec(hop);
  if (withPort && isIP(withPort[1]) === 4) return withPort[1];
  return undefined;
}

/**
 * What stands for a client the proxy could not name by address: the hop's own text, so that
 * clients behind `unknown` (or each obfuscated identifier) share a budget with each other and
 * not with everyone else behind the proxy. Bounded and reduced to RFC 7239's identifier
 * characters, since it reaches rate-limit keys, logs and the audit trail.
 */
const hopToken = (hop: string) => hop.replace(/[^A-Za-z0-9._-]/g, '').slice(0, 64) || 'unknown';

/**
 * The client's address: the TCP peer, unless the peer is a trusted proxy, in which case the
 * right-most X-Forwarded-For hop that is not itself a trusted proxy. Left-most entries are
 * whatever the client chose to send and are never believed. A hop that is not an address ends
 * the walk and is the answer, as text (hopToken): it is the closest thing to the client there is.
 */
export function resolveClientIp(peer: string, forwardedFor: string | undefined, isTrusted: (ip: string) => boolean): string {
  let ip = peerAddress(peer);
  if (!isTrusted(ip) || !forwardedFor) return ip;
  const hops = forwardedFor.split(',').map((h) => h.trim());
  for (let i = hops.length - 1; i >= 0; i--) {
    if (!hops[i]) continue;
    const address = hopAddress(hops[i]);
    if (!address) return hopToken(hops[i]);
    ip = address;
    if (!isTrusted(ip)) break;
  }
  return ip;
}

/**
 * Puts the client's IP in `ctx.state.clientIp` (and `ctx.ip`). When the peer is not a trusted proxy, every
 * X-Forwarded-* header is removed before anything else (Koa, oidc-provider) can read it, so
 * both may run with `proxy` on without believing a forged header.
 */
export function clientIp(trustedProxies: string[]) {
  const isTrusted = createProxyMatcher(trustedProxies);
  return async function resolveClientIpStep(ctx: Context, next: Next) {
    const peer = peerAddress(ctx.req.socket.remoteAddress ?? '');
    if (!isTrusted(peer)) {
      for (const header of forwardedHeaders) delete ctx.req.headers[header];
    }
    const ip = resolveClientIp(peer, ctx.get('x-forwarded-for') || undefined, isTrusted);
    ctx.state.clientIp = ip;
    ctx.request.ip = ip;
    if (ctx.state.requestScope) ctx.state.requestScope.ip = ip;
    await next();
  };
}
