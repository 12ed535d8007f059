import type { HeldRole, SubjectQueries } from './subject-queries.ts';
import { systemClock, type Clock } from '../clock.ts';

export type { HeldRole };

/** Who is asking, as AuthZEN and tokens name them: a user by `sub`, a client by `client_id`. */
export interface SubjectRef {
  type: 'user' | 'client';
  id: string;
}

/** What Gatehouse knows of a subject. Unknown (and disabled) users and unknown clients hold nothing. */
export interface Subject extends SubjectRef {
  known: boolean;
  email?: string;
  name?: string;
  /** Group names, sorted (users only). */
  groups: string[];
  /** Roles held directly or through a group, by API then name. */
  roles: HeldRole[];
  attributes: Record<string, unknown>;
}

export interface SubjectReaderOptions {
  queries: Pick<SubjectQueries, 'user' | 'client'>;
  /** How long a subject is served from memory; 0 reads it every time. */
  ttlSeconds: number;
  maxEntries?: number;
  now?: Clock;
}

/**
 * Subjects as the policy decision point and token issuance see them, each read with one
 * statement and kept for `ttlSeconds`. So a removed role or group membership is in effect on the
 * next token and the next decision within that TTL on every instance; on the instance that made
 * the change (the directory calls `clear`), at once. Concurrent reads of one subject share a
 * statement.
 */
export function createSubjectReader({ queries, ttlSeconds, maxEntries = 10_000, now = systemClock }: SubjectReaderOptions) {
  const cache = new Map<string, { expiresAt: number; subject: Promise<Subject> }>();

  async function load(ref: SubjectRef): Promise<Subject> {
    const found = ref.type === 'user' ? await queries.user(ref.id) : await queries.client(ref.id);
    if (!found || found.disabled) return { ...ref, known: false, groups: [], roles: [], attributes: {} };
    const { disabled: _disabled, ...known } = found;
    return { ...ref, ...known, known: true };
  }

  function read(ref: SubjectRef): Promise<Subject> {
    const key = `${ref.type}:${ref.id}`;
    const at = now();
    const cached = cache.get(key);
    if (cached && cached.expiresAt > at) return cached.subject;
    const subject = load({ type: ref.type, id: ref.id });
    if (ttlSeconds > 0) {
      cache.delete(key);
      cache.set(key, { expiresAt: at + ttlSeconds * 1000, subject });
      if (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
      subject.catch(() => {
        if (cache.get(key)?.subject === subject) cache.delete(key);
      });
    }
    return subject;
  }

  return {
    read,

    /** The names of the subject's roles on the API (direct or through groups). */
    async rolesFor(ref: SubjectRef, api: string): Promise<string[]> {
      return (await read(ref)).roles.filter((role) => role.api === api).map((role) => role.name);
    },

    /** The union of the scopes of the subject's roles on the API: what RBAC narrows a token to. */
    async scopesGrantedBy(ref: SubjectRef, api: string): Promise<string[]> {
      const scopes = new Set<string>();
      for (const role of (await read(ref)).roles) if (role.api === api) for (const scope of role.scopes) scopes.add(scope);
      return [...scopes];
    },

    /** Forgets every cached subject. */
    clear: () => cache.clear(),
  };
}

export type SubjectReader = ReturnType<typeof createSubjectReader>;
