import { createSecretHasher } from './client-secrets.ts';
import { createClientService } from './clients.ts';
import type { Config, Secrets } from './config.ts';
import type { Database } from './database.ts';
import { createKeyEncryption } from './key-encryption.ts';
import { createKeyService } from './keys.ts';
import { createPasswordHasher } from './passwords.ts';
import { createUserService } from './users.ts';

/** A new key signs only after every cache of the old JWKS has expired and every instance has re-read the keys. */
export const keyActivationDelay = (config: Config) => config.keys.jwksMaxAge + 2 * config.keys.refreshInterval + 30;

/** The services the server and the CLI share, wired from the configuration. */
export function createServices({ config, secrets, db }: { config: Config; secrets: Secrets; db: Database }) {
  const passwords = createPasswordHasher(config.argon2);
  return {
    passwords,
    users: createUserService({ db, passwords }),
    clients: createClientService({ db, secrets: createSecretHasher(secrets.clientSecretPepper) }),
    keys: createKeyService({
      db,
      encryption: createKeyEncryption(secrets.keyEncryptionKey),
      activationDelaySeconds: keyActivationDelay(config),
      retainSeconds: Math.max(config.ttl.accessToken, config.ttl.idToken),
    }),
  };
}

export type Services = ReturnType<typeof createServices>;
