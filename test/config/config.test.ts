import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { envKeys, loadConfig } from '../../apps/core/config/config.ts';

const strongSecret = 'x'.repeat(43);
const productionEnv = {
  NODE_ENV: 'production',
  ISSUER: 'https://id.example.com',
  KEY_ENCRYPTION_KEY: 'A'.repeat(43),
  COOKIE_KEYS: strongSecret,
  CLIENT_SECRET_PEPPER: strongSecret,
};

describe('configuration from the environment', () => {
  it('has safe defaults for development', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 3000, issuer: 'http://localhost:3000', production: false, devInteractions: false });
    expect(config.argon2).toEqual({ memoryCost: 7168, timeCost: 5, parallelism: 1 });
  });

  it.each([
    ['PORT', 'seventy', /^PORT: /],
    ['PORT', '70000', /^PORT: /],
    ['ISSUER', 'not a url', /^ISSUER: expected an absolute http\(s\) URL/],
    ['DATABASE_URL', 'mysql://localhost/db', /^DATABASE_URL: expected a postgresql:\/\/ URL/],
    ['ARGON2_MEMORY_KIB', '1024', /^ARGON2_MEMORY_KIB: expected at least 7168/],
    ['ARGON2_TIME_COST', '2', /^ARGON2_TIME_COST: expected ARGON2_MEMORY_KIB × ARGON2_TIME_COST of at least 35840/],
    ['KEY_ENCRYPTION_KEY', 'too-short', /^KEY_ENCRYPTION_KEY: /],
    ['COOKIE_KEYS', 'short', /^COOKIE_KEYS: expected comma-separated keys of at least 32 characters each/],
    // Regression: the whole string was checked, so an empty or short first key signed every cookie.
    ['COOKIE_KEYS', `,${'x'.repeat(32)}`, /^COOKIE_KEYS: expected comma-separated keys of at least 32 characters each/],
    ['COOKIE_KEYS', `k1,${'x'.repeat(32)}`, /^COOKIE_KEYS: expected comma-separated keys of at least 32 characters each/],
    ['NODE_ENV', 'staging', /^NODE_ENV: /],
  ])('rejects %s=%s with one line naming the variable', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('accepts a complete production configuration', () => {
    expect(loadConfig(productionEnv).production).toBe(true);
  });

  it('splits COOKIE_KEYS into keys, the first one signing', () => {
    expect(loadConfig({ COOKIE_KEYS: `${'a'.repeat(32)}, ${'b'.repeat(40)}` }).secrets.cookieKeys).toEqual(['a'.repeat(32), 'b'.repeat(40)]);
  });

  it.each([
    ['an http issuer that is not loopback', { ISSUER: 'http://id.example.com' }, /^ISSUER: must be https in production/],
    ['a missing key-encryption key', { KEY_ENCRYPTION_KEY: '' }, /^KEY_ENCRYPTION_KEY: is required in production/],
    ['missing cookie keys', { COOKIE_KEYS: '' }, /^COOKIE_KEYS: is required in production/],
    ['a missing client secret pepper', { CLIENT_SECRET_PEPPER: '' }, /^CLIENT_SECRET_PEPPER: is required in production/],
    ['development interactions', { DEV_INTERACTIONS: 'true' }, /^DEV_INTERACTIONS: must be false in production/],
  ])('refuses %s in production', (_what, override, message) => {
    const env: Record<string, string | undefined> = { ...productionEnv, ...override };
    if (env.KEY_ENCRYPTION_KEY === '') delete env.KEY_ENCRYPTION_KEY;
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('allows an http issuer on loopback in production', () => {
    expect(loadConfig({ ...productionEnv, ISSUER: 'http://127.0.0.1:3000' }).issuer).toBe('http://127.0.0.1:3000');
  });

  it('documents every variable in .env.example, and nothing else', () => {
    const example = readFileSync(resolve(import.meta.dirname, '../../.env.example'), 'utf8');
    const documented = [...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]).sort();
    expect(documented).toEqual([...envKeys].sort());
  });
});
