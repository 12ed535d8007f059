import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { renderEnvExample, withConfigTable } from '../../apps/core/config/config-docs.ts';
import { envKeys, loadConfig } from '../../apps/core/config/config.ts';
import { envSchema, sections } from '../../apps/core/config/env-schema.ts';
import { toConfig } from '../../apps/core/config/load-config.ts';
import { docOf } from '../../apps/core/config/variable.ts';

const read = (file: string) => readFileSync(resolve(import.meta.dirname, '../..', file), 'utf8');

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
    const example = read('.env.example');
    const documented = [...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]).sort();
    expect(documented).toEqual([...envKeys].sort());
  });
});

describe('configuration written once', () => {
  const variables = sections.flatMap((section) =>
    Object.entries(section.variables).map(([name, schema]) => ({ section: section.title, name, doc: docOf(schema) })),
  );

  it('places every variable of the schema in exactly one documented section', () => {
    expect(variables.map((v) => v.name).sort()).toEqual([...envKeys].sort());
  });

  it.each(variables.map((v) => [v.name, v.doc] as const))('describes %s in one or two sentences, with a default or an unset behaviour', (_name, doc) => {
    expect(doc.description).toMatch(/^\S.*\.$/);
    expect(doc.description.split(/(?<=[.!?])\s+(?=[A-Z`(])/).length).toBeLessThanOrEqual(2);
    if (doc.default !== undefined) expect(doc).not.toHaveProperty('unset');
    if (doc.default !== undefined) expect(doc).not.toHaveProperty('example');
  });

  it('puts every variable into the Config (a variable the mapping never reads fails here)', () => {
    const parsed = envSchema.parse({});
    const seen = new Set<string | symbol>();
    toConfig(
      new Proxy(parsed, {
        get(target, key, receiver) {
          seen.add(key);
          return Reflect.get(target, key, receiver);
        },
      }),
    );
    expect([...seen].map(String).sort()).toEqual([...envKeys].sort());
  });

  it('takes the defaults that .env.example shows as the defaults in force', () => {
    const shown = Object.fromEntries([...read('.env.example').matchAll(/^([A-Z][A-Z0-9_]+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
    expect(Object.keys(shown).sort()).toEqual(
      variables
        .filter((v) => v.doc.default !== undefined)
        .map((v) => v.name)
        .sort(),
    );
    expect(loadConfig(shown)).toEqual(loadConfig({}));
  });

  it('keeps .env.example as `npm run docs:config` writes it from the schema', () => {
    expect(read('.env.example')).toBe(renderEnvExample());
  });

  it('keeps the README configuration table as `npm run docs:config` writes it from the schema', () => {
    const readme = read('README.md');
    expect(readme).toBe(withConfigTable(readme));
  });

  // Regression: the README said "connections per instance", but every WEB_CONCURRENCY worker opens its own pool.
  it('documents DB_POOL_MAX as connections per process', () => {
    expect(read('README.md')).toContain('| `DB_POOL_MAX` | `10` | Database connections per process: each `WEB_CONCURRENCY` worker has its own pool');
  });

  it('refuses to write the README table without its two markers', () => {
    expect(() => withConfigTable('## Configuration\n')).toThrow(
      'README.md needs <!-- config:start --> and <!-- config:end -->, in that order, around the configuration table',
    );
  });
});
