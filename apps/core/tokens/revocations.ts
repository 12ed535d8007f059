import type { RevocationKind, RevocationQueries } from './revocation-queries.ts';
import { systemClock, type Clock } from '../clock.ts';

/** What names a token for revocation: its `jti`, its grant (`gid`), its subject and when it was issued. */
export interface TokenIdentity {
  jti?: string;
  gid?: string;
  sub?: string;
  /** Seconds since the epoch. */
  iat?: number;
}

export interface RevocationList {
  /** Whether the token is revoked, from memory: no I/O. */
  isRevoked(token: TokenIdentity): boolean;
  /** Revokes one token until it expires (`exp`, seconds since the epoch). */
  revokeToken(jti: string, exp: number): Promise<void>;
  /** Revokes every token issued under a grant (by its reference, the `gid` claim). */
  revokeGrant(gid: string): Promise<void>;
  /** Revokes every token issued to a subject up to now (a disabled user). */
  revokeSubject(sub: string): Promise<void>;
  /** Reads what other instances revoked since the last read. */
  refresh(): Promise<void>;
  stop(): void;
}

interface Entry {
  revokedAt: number;
  expiresAt: number;
}

// A revocation committed by another instance carries PostgreSQL's time of its statement; one that
// commits a little after a read began could carry a time before it, so each read looks back this far.
const OVERLAP_MS = 10_000;

/**
 * The revoked tokens, grants and subjects, held in memory on every instance and refreshed from
 * PostgreSQL every `refreshSeconds`: a check costs a map lookup, and another instance's
 * revocation is seen within one interval. The instance that revokes sees it at once.
 */
export function createRevocationList({
  queries,
  refreshSeconds,
  retainSeconds,
  now = systemClock,
  onError = () => {},
}: {
  queries: RevocationQueries;
  refreshSeconds: number;
  /** How long a grant or subject revocation must be kept: the longest life of an access token. */
  retainSeconds: () => number;
  now?: Clock;
  onError?: (error: unknown) => void;
}): RevocationList {
  const entries = new Map<string, Entry>();
  const keyOf = (kind: RevocationKind, value: string) => `${kind}:${value}`;
  let readUpTo: Date | undefined;

  const remember = (kind: RevocationKind, value: string, entry: Entry) => {
    const known = entries.get(keyOf(kind, value));
    entries.set(keyOf(kind, value), {
      revokedAt: Math.max(entry.revokedAt, known?.revokedAt ?? 0),
      expiresAt: Math.max(entry.expiresAt, known?.expiresAt ?? 0),
    });
  };

  async function record(kind: RevocationKind, value: string, ttlSeconds: number) {
    const at = now();
    remember(kind, value, { revokedAt: at, expiresAt: at + ttlSeconds * 1000 });
    await queries.insert([{ kind, value, ttlSeconds }]);
  }

  async function refresh() {
    const { rows, now: databaseNow } = await queries.since(readUpTo && new Date(readUpTo.getTime() - OVERLAP_MS));
    for (const row of rows) remember(row.kind, row.value, { revokedAt: row.revokedAt.getTime(), expiresAt: row.expiresAt.getTime() });
    readUpTo = databaseNow;
    const at = now();
    for (const [key, entry] of entries) if (entry.expiresAt <= at) entries.delete(key);
  }

  const timer = setInterval(() => void refresh().catch(onError), refreshSeconds * 1000);
  timer.unref();

  return {
    isRevoked({ jti, gid, sub, iat }) {
      if (entries.size === 0) return false;
      if (jti !== undefined && entries.has(keyOf('jti', jti))) return true;
      if (gid !== undefined && entries.has(keyOf('grant', gid))) return true;
      if (sub !== undefined) {
        const subject = entries.get(keyOf('subject', sub));
        if (subject && (iat === undefined || iat * 1000 <= subject.revokedAt)) return true;
      }
      return false;
    },
    revokeToken: (jti, exp) => record('jti', jti, Math.max(1, exp - Math.floor(now() / 1000))),
    revokeGrant: (gid) => record('grant', gid, retainSeconds()),
    revokeSubject: (sub) => record('subject', sub, retainSeconds()),
    refresh,
    stop: () => clearInterval(timer),
  };
}
