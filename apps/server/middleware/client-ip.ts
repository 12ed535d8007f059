import { BlockList, isIP } from 'node:net';
import type { Context, Next } from 'koa';

const forwardedHeaders = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'forwarded'];

const unmapped = (ip: string) => (ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip);

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
 * The client's address: the TCP peer, unless the peer is a trusted proxy, in which case the
 * right-most X-Forwarded-For hop that is not itself a trusted proxy. Left-most entries are
 * whatever the client chose to send and are never believed.
 */
export function resolveClientIp(peer: string, forwardedFor: string | undefined, isTrusted: (ip: string) => boolean): string {
  let ip = unmapped(peer);
  if (!isTrusted(ip) || !forwardedFor) return ip;
  const hops = forwardedFor.split(',').map((h) => unmapped(h.trim()));
  for (let i = hops.length - 1; i >= 0; i--) {
    if (isIP(hops[i]) === 0) break;
    ip = hops[i];
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
    const peer = unmapped(ctx.req.socket.remoteAddress ?? '');
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
