import { loadConfig } from '../../apps/core/config/config.ts';

const base = { ISSUER: 'https://id.example.test' };

describe('edge configuration', () => {
  it('lets loopback ask by default and parses the other settings', () => {
    expect(loadConfig(base).edge).toEqual({ callers: ['127.0.0.0/8', '::1'], cookieDomain: undefined, routeRefreshInterval: 2, sessionCheckInterval: 5 });
    expect(loadConfig({ ...base, EDGE_CALLERS: '10.0.0.0/8, 192.0.2.7', EDGE_COOKIE_DOMAIN: '.Example.Test' }).edge).toMatchObject({
      callers: ['10.0.0.0/8', '192.0.2.7'],
      cookieDomain: 'example.test',
    });
  });

  it('refuses callers that are no addresses, naming the variable', () => {
    expect(() => loadConfig({ ...base, EDGE_CALLERS: 'gateway.internal' })).toThrow('EDGE_CALLERS: expected comma-separated IP addresses or CIDR ranges');
  });

  it('refuses a cookie domain the issuer is not in: the callback at ISSUER could not set the cookie', () => {
    expect(() => loadConfig({ ...base, EDGE_COOKIE_DOMAIN: 'example.net' })).toThrow(
      "EDGE_COOKIE_DOMAIN: must be ISSUER's host (id.example.test) or a domain it is in",
    );
    expect(() => loadConfig({ ...base, EDGE_COOKIE_DOMAIN: 'test' })).toThrow(
      'EDGE_COOKIE_DOMAIN: expected a domain name of two labels or more, such as example.test',
    );
    expect(loadConfig({ ...base, EDGE_COOKIE_DOMAIN: 'id.example.test' }).edge.cookieDomain).toBe('id.example.test');
  });
});
