import { addressKey } from '../../apps/server/http/rate-limit/address-key.ts';
import { createProxyMatcher, resolveClientIp } from '../../apps/server/http/client-ip.ts';

describe('the key an address is counted under', () => {
  it.each([
    ['198.51.100.7', '198.51.100.7'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['2001:0DB8:0000:0000:ffff::9', '2001:db8:0:0::/64'],
    ['2001:db8:0:1::1', '2001:db8:0:1::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['64:ff9b::198.51.100.7', '64:ff9b:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['::ffff:198.51.100.7', '198.51.100.7'],
    ['::FFFF:c633:6407', '198.51.100.7'],
    ['0:0:0:0:0:ffff:198.51.100.7', '198.51.100.7'],
    ['unknown', 'named:unknown'],
    ['_hidden', 'named:_hidden'],
  ])('counts %s as %s', (address, key) => {
    expect(addressKey(address)).toBe(key);
  });
});

describe("the client's address behind a trusted proxy (TRUSTED_PROXIES=10.0.0.0/8)", () => {
  const trusted = createProxyMatcher(['10.0.0.0/8']);
  it.each([
    ['203.0.113.5', '203.0.113.5'],
    ['203.0.113.5:51234', '203.0.113.5'],
    ['[2001:db8::1]:443', '2001:db8::1'],
    ['[2001:db8::1]', '2001:db8::1'],
    ['::ffff:203.0.113.5', '203.0.113.5'],
    ['198.51.100.1, 203.0.113.5:51234', '203.0.113.5'],
    ['203.0.113.5, 10.1.1.1:80', '203.0.113.5'],
    ['unknown', 'unknown'],
    ['203.0.113.5, unknown', 'unknown'],
    ['_hidden, 10.1.1.1', '_hidden'],
    ['"_x<y>"', '_xy'],
    [`${'a'.repeat(500)}`, 'a'.repeat(64)],
    ['203.0.113.5:99999999', '203.0.113.599999999'],
    [',', '10.0.0.1'],
  ])('reads X-Forwarded-For %s as %s', (forwardedFor, expected) => {
    expect(resolveClientIp('10.0.0.1', forwardedFor, trusted)).toBe(expected);
  });

  it('believes no X-Forwarded-For from a peer that is not a trusted proxy', () => {
    expect(resolveClientIp('198.51.100.9', '203.0.113.5', trusted)).toBe('198.51.100.9');
    expect(resolveClientIp('::ffff:198.51.100.9', 'unknown', trusted)).toBe('198.51.100.9');
  });
});
