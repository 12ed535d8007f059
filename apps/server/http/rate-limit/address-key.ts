import { isIP } from 'node:net';

/** The eight 16-bit groups of an IPv6 address, whatever its spelling (`::`, an IPv4 tail, a zone). */
function groupsOf(address: string): number[] {
  const [head, tail] = address.split('%')[0].split('::') as [string, string | undefined];
  const parse = (part: string | undefined) =>
    (part ? part.split(':') : []).flatMap((group) => {
      if (!group.includes('.')) return [parseInt(group, 16)];
      const [a, b, c, d] = group.split('.').map(Number);
      return [(a << 8) | b, (c << 8) | d];
    });
  const left = parse(head);
  const right = parse(tail);
  return tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/**
 * What one client address is counted under in every per-address budget: an IPv4 address as it
 * is (an IPv4-mapped IPv6 address too), an IPv6 address by its /64 (one host owns a whole /64,
 * and could otherwise take a fresh budget per address), and a client a proxy named by something
 * other than an address (client-ip.ts) by that name.
 */
export function addressKey(clientIp: string): string {
  const family = isIP(clientIp);
  if (family === 4) return clientIp;
  if (family !== 6) return `named:${clientIp}`;
  const groups = groupsOf(clientIp);
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    return [groups[6] >> 8, groups[6] & 0xff, groups[7] >> 8, groups[7] & 0xff].join('.');
  }
  return `${groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(':')}::/64`;
}
