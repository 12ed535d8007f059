import { loadConfig } from '../../apps/core/config/config.ts';
import { formatRate, intervalMs, parseRate } from '../../apps/core/rate-limits/rate.ts';

describe('rates, written as nginx writes them', () => {
  it.each([
    ['50/s', { count: 50, per: 's' }, 20],
    ['6/m', { count: 6, per: 'm' }, 10_000],
    ['100/h', { count: 100, per: 'h' }, 36_000],
    [' 3/s ', { count: 3, per: 's' }, 1000 / 3],
  ])('reads %s', (text, rate, interval) => {
    expect(parseRate(text)).toEqual(rate);
    expect(intervalMs(parseRate(text)!)).toBeCloseTo(interval);
    expect(formatRate(parseRate(text)!)).toBe(text.trim());
  });

  it.each(['0/s', '50', '50r/s', '5/d', '1.5/s', '-1/s', '/s', '50/sec'])('refuses %s', (text) => {
    expect(parseRate(text)).toBeUndefined();
  });
});

describe('rate-limit configuration', () => {
  it('defaults to generous ceilings and small failure budgets', () => {
    expect(loadConfig({}).rateLimit).toEqual({
      enabled: true,
      perAddress: { rate: { count: 50, per: 's' }, burst: 1000 },
      readyz: { rate: { count: 5, per: 's' }, burst: 30 },
      clientAuthFailures: { rate: { count: 1, per: 's' }, burst: 50 },
      perClient: { rate: { count: 50, per: 's' }, burst: 1000 },
      loginFailures: { rate: { count: 6, per: 'm' }, burst: 60 },
      syncMs: 100,
    });
  });

  it.each([
    [{ RATE_LIMIT_PER_CLIENT: '1200' }, /^RATE_LIMIT_PER_CLIENT: expected a rate such as 50\/s, 6\/m or 100\/h/],
    [{ RATE_LIMIT_LOGIN_FAILURES: 'lots' }, /^RATE_LIMIT_LOGIN_FAILURES: expected a rate/],
    [{ RATE_LIMIT_PER_ADDRESS_BURST: '0' }, /^RATE_LIMIT_PER_ADDRESS_BURST: /],
    [{ RATE_LIMIT_LOGIN_FAILURES_BURST: '20' }, /^RATE_LIMIT_LOGIN_FAILURES_BURST: expected at least LOCKOUT_THRESHOLD \(30\)/],
    [{ LOCKOUT_THRESHOLD: '100' }, /^RATE_LIMIT_LOGIN_FAILURES_BURST: expected at least LOCKOUT_THRESHOLD \(100\)/],
    [{ RATE_LIMIT_PER_IP: '1200' }, /^RATE_LIMIT_PER_IP: is no longer read; replaced by RATE_LIMIT_PER_ADDRESS and RATE_LIMIT_PER_ADDRESS_BURST/],
    [{ RATE_LIMIT_WINDOW: '60' }, /^RATE_LIMIT_WINDOW: is no longer read/],
    [{ RATE_LIMIT_LOGIN_PER_IP: '30' }, /^RATE_LIMIT_LOGIN_PER_IP: is no longer read; replaced by RATE_LIMIT_LOGIN_FAILURES/],
  ])('refuses %o with one line naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('accepts a failure budget as large as the lockout threshold', () => {
    expect(loadConfig({ LOCKOUT_THRESHOLD: '100', RATE_LIMIT_LOGIN_FAILURES_BURST: '100' }).rateLimit.loginFailures.burst).toBe(100);
  });
});
