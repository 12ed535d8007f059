import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM for private keys at rest, under the key-encryption key from the environment.
 * The key id is bound as additional authenticated data, so a ciphertext moved onto another
 * row does not decrypt.
 */
export interface KeyEncryption {
  encrypt(plaintext: string, aad: string): string;
  decrypt(sealed: string, aad: string): string;
}

/** GCM's full tag: a shorter one would be checked only as far as it goes, and forged more easily. */
const TAG_BYTES = 16;

export function createKeyEncryption(keyEncryptionKey: string): KeyEncryption {
  const key = Buffer.from(keyEncryptionKey, 'base64url');
  if (key.length !== 32) throw new Error('the key-encryption key must be 32 bytes');

  return {
    encrypt(plaintext, aad) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(Buffer.from(aad));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return [iv, cipher.getAuthTag(), ciphertext].map((b) => b.toString('base64url')).join('.');
    },
    decrypt(sealed, aad) {
      const [iv, tag, ciphertext] = sealed.split('.').map((part) => Buffer.from(part, 'base64url'));
      if (tag?.length !== TAG_BYTES) throw new Error(`the authentication tag must be ${TAG_BYTES} bytes`);
      const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES }).setAAD(Buffer.from(aad)).setAuthTag(tag);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
    },
  };
}
