import argon2 from 'argon2';

export interface Argon2Params {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Verifies `password`; with no stored hash it verifies against a decoy so timing is the same. */
  verify(storedHash: string | undefined, password: string): Promise<boolean>;
  /** Whether a stored hash was made with other parameters than the configured ones. */
  needsRehash(storedHash: string): boolean;
}

export function createPasswordHasher(params: Argon2Params): PasswordHasher {
  const options = { type: argon2.argon2id, ...params } as const;
  // Hashed lazily, once, with the live parameters, so a decoy verify costs what a real one does.
  let decoy: Promise<string> | undefined;
  const decoyHash = () => (decoy ??= argon2.hash(`decoy-${Math.random()}`, options));

  return {
    hash: (password) => argon2.hash(password, options),
    async verify(storedHash, password) {
      if (!storedHash) {
        await argon2.verify(await decoyHash(), password).catch(() => false);
        return false;
      }
      return argon2.verify(storedHash, password).catch(() => false);
    },
    needsRehash: (storedHash) => argon2.needsRehash(storedHash, options),
  };
}
