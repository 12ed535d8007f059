import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { AuditLog } from '../audit/audit-log.ts';
import { systemClock, type Clock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import type { KeyEncryption } from './key-encryption.ts';
import { createKeyQueries, type KeyQueries, type KeyRow, type NewKey } from './key-queries.ts';

/** RS256 is OpenID's default for ID tokens; ES256 is smaller and faster. */
export const signingAlgorithms = ['RS256', 'ES256'] as const;
export type SigningAlgorithm = (typeof signingAlgorithms)[number];

export type KeyState = 'next' | 'current' | 'retired';

export interface KeyInfo {
  kid: string;
  alg: string;
  state: KeyState;
  createdAt: Date;
  activatesAt: Date;
  retiredAt: Date | null;
  expiresAt: Date | null;
}

export interface KeySet {
  /** Changes whenever the published keys or their states change. */
  version: string;
  /** Private JWKs for the provider: the current key of each algorithm first, so it is the one that signs. */
  signing: JWK[];
  /** Public JWKs, as JWKS publishes them. */
  published: JWK[];
  /** The next instant at which a state changes without anyone rotating. */
  nextChangeAt?: Date;
}

export interface KeyServiceOptions {
  encryption: KeyEncryption;
  /** JWKS Cache-Control max-age plus how long instances may take to notice: a new key signs only after this. */
  activationDelaySeconds: number;
  /** The longest lifetime of anything a key signs (read at rotation): a retired key stays published this long. */
  retainSeconds: number | (() => Promise<number>);
  audit?: AuditLog;
  now?: Clock;
}

/** The key service on its queries, or on a database to make them from. */
export type KeyStorage = { queries: KeyQueries } | { db: Database };

/** What JWKS may show of a key; every other member (d, p, q, dp, dq, qi) is private. */
const publicMembers = ['kid', 'alg', 'use', 'kty', 'crv', 'x', 'y', 'n', 'e'] as const;

const publicHalf = (jwk: JWK): JWK => Object.fromEntries(publicMembers.filter((member) => jwk[member] !== undefined).map((member) => [member, jwk[member]]));

export function createKeyService(options: KeyServiceOptions & KeyStorage) {
  const { encryption, activationDelaySeconds, retainSeconds, audit, now: clock = systemClock } = options;
  const now = () => new Date(clock());
  const queries = 'db' in options ? createKeyQueries(options.db) : options.queries;
  const stateOf = (row: KeyRow, current: Map<string, KeyRow>, at: Date): KeyState =>
    row.activatesAt > at ? 'next' : current.get(row.alg)?.id === row.id ? 'current' : 'retired';

  async function publishedRows(at: Date) {
    const rows = await queries.published(at);
    const current = new Map<string, KeyRow>();
    for (const row of rows) if (row.activatesAt <= at && !current.has(row.alg)) current.set(row.alg, row);
    return { rows, current };
  }

  /** A new key pair, its private half sealed, named by its RFC 7638 thumbprint. */
  async function newKey(alg: SigningAlgorithm, activatesAt: Date): Promise<NewKey> {
    const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' && { modulusLength: 2048 }) });
    const privateJwk = await exportJWK(privateKey);
    const kid = await calculateJwkThumbprint(privateJwk);
    const signing = { ...privateJwk, kid, alg, use: 'sig' };
    return { id: kid, alg, publicJwk: publicHalf(signing), encryptedPrivateJwk: encryption.encrypt(JSON.stringify(signing), kid), activatesAt };
  }

  /**
   * A row's private key, and the public key published for it, derived from the private one: the
   * public_jwk column is outside the encryption, so someone who can write the table but lacks the
   * key-encryption key could otherwise publish a key of their own under a live kid. A row that
   * does not add up is refused, and with it the whole set, so the refresh fails loudly.
   */
  async function openRow(row: KeyRow): Promise<{ signing: JWK; published: JWK }> {
    let signing: JWK;
    try {
      signing = JSON.parse(encryption.decrypt(row.encryptedPrivateJwk, row.id)) as JWK;
    } catch (error) {
      throw new Error(`signing key ${row.id}: cannot open its private key: ${(error as Error).message}`, { cause: error });
    }
    if (signing.kid !== row.id || signing.alg !== row.alg || (await calculateJwkThumbprint(signing)) !== row.id) {
      throw new Error(`signing key ${row.id}: its kid is not the RFC 7638 thumbprint of its ${row.alg} key`);
    }
    const published = publicHalf(signing);
    if (!isDeepStrictEqual(published, row.publicJwk)) {
      throw new Error(`signing key ${row.id}: the stored public_jwk is not the public half of its private key`);
    }
    return { signing, published };
  }

  return {
    /** First start: a key for every algorithm that has none, signing at once (nothing cached it yet). */
    async ensureKeys(): Promise<string[]> {
      const at = now();
      const { current } = await publishedRows(at);
      const created: string[] = [];
      for (const alg of signingAlgorithms) {
        if (current.has(alg)) continue;
        // Two instances starting together on an empty database: one of them stores its key.
        const stored = await queries.createUnlessActive(await newKey(alg, at), at);
        if (stored) created.push(stored.id);
      }
      return created;
    },

    /**
     * Publishes a new key per algorithm as "next"; it signs only once every JWKS cache has
     * seen it. The key it replaces stays published until what it signed has expired.
     */
    async rotate(): Promise<KeyInfo[]> {
      const at = now();
      const activatesAt = new Date(at.getTime() + activationDelaySeconds * 1000);
      const retain = typeof retainSeconds === 'number' ? retainSeconds : await retainSeconds();
      const expiresAt = new Date(activatesAt.getTime() + retain * 1000);
      for (const alg of signingAlgorithms) {
        await queries.retire(alg, { retiredAt: activatesAt, expiresAt });
        await queries.create(await newKey(alg, activatesAt));
      }
      await audit?.record({ type: 'key.rotated', details: { activatesAt: activatesAt.toISOString() } });
      return this.list();
    },

    async list(): Promise<KeyInfo[]> {
      const at = now();
      const { rows, current } = await publishedRows(at);
      return rows.map((row) => ({
        kid: row.id,
        alg: row.alg,
        state: stateOf(row, current, at),
        createdAt: row.createdAt,
        activatesAt: row.activatesAt,
        retiredAt: row.retiredAt,
        expiresAt: row.expiresAt,
      }));
    },

    async keySet(): Promise<KeySet> {
      const at = now();
      const { rows, current } = await publishedRows(at);
      const ordered = [...current.values(), ...rows.filter((row) => !current.has(row.alg) || current.get(row.alg)!.id !== row.id)];
      // oidc-provider wants private JWKs in its key set, and signs with the first key of an
      // algorithm: the current one leads. No key_ops: jose hands them to WebCrypto as usages,
      // which a private key cannot combine with 'verify'.
      const opened = await Promise.all(ordered.map(openRow));
      const signing = opened.map((key) => key.signing);
      const published = opened.map((key) => key.published);
      const changes = rows.flatMap((row) => [row.activatesAt, row.expiresAt]).filter((d): d is Date => !!d && d > at);
      const nextChangeAt = changes.length ? new Date(Math.min(...changes.map((d) => d.getTime()))) : undefined;
      const version = createHash('sha256')
        .update(ordered.map((row) => `${row.id}:${stateOf(row, current, at)}`).join(','))
        .digest('base64url');
      return { version, signing, published, nextChangeAt };
    },

    /** Removes keys that are no longer published. */
    sweep: () => queries.deleteExpired(now()),
  };
}

export type KeyService = ReturnType<typeof createKeyService>;
