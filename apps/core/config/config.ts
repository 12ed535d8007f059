// The configuration's public face: what the apps import. The variables, their defaults and
// descriptions are in env-schema.ts; parsing and the production refusals in load-config.ts.
export { argon2Floor, envKeys, type Env } from './env-schema.ts';
export { loadConfig, type Config, type Secrets } from './load-config.ts';
