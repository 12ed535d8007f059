import { createSealer } from './sealed-value.ts';
import { systemClock, type Clock } from '../../core/clock.ts';

export const EDGE_SESSION_COOKIE = 'gatehouse_edge';

/** What an edge session cookie holds: who signed in, and the Gatehouse session it stands on. */
export interface EdgeSession {
  sub: string;
  /** The uid of the Gatehouse (oidc-provider) session the browser signed in with. */
  sid: string;
  /** The edge client's grant within that session. */
  gid: string;
  email?: string;
  name?: string;
  preferredUsername?: string;
  /** Seconds since the epoch. */
  iat: number;
  exp: number;
}

/** What tells whether the Gatehouse session behind an edge session is still the one it signed in with. */
export type SessionProbe = (sid: string) => Promise<{ accountId?: string; grantId?: string } | undefined>;

const isSession = (s: Record<string, unknown>) =>
  typeof s.sub === 'string' && typeof s.sid === 'string' && typeof s.gid === 'string' && typeof s.exp === 'number' && typeof s.iat === 'number';

/**
 * The edge session: a cookie that carries its own state (so instances share nothing in memory),
 * HMAC-SHA-256 signed with a key derived from each of COOKIE_KEYS (the first signs, every one
 * verifies, so a key rotation signs nobody out), and bound to the Gatehouse session the browser
 * signed in with, as oidc-provider binds tokens to sessions (`expiresWithSession`): while that
 * session lives, holds the same account and still has the edge's grant, the edge session holds.
 * Signing out of Gatehouse, or out of the edge client alone, ends it. That is asked of the
 * database at most once per `checkSeconds` per session on each instance; the answers in between
 * come from memory.
 */
export function createEdgeSessions({
  cookieKeys,
  probe,
  isRevoked,
  checkSeconds,
  now = systemClock,
  maxEntries = 10_000,
}: {
  cookieKeys: string[];
  probe: SessionProbe;
  /** The revocation list: a disabled user's edge sessions end with their tokens. */
  isRevoked: (subject: { sub: string; iat: number }) => boolean;
  checkSeconds: number;
  now?: Clock;
  maxEntries?: number;
}) {
  const { seal, open } = createSealer<EdgeSession>(cookieKeys, 'edge session', isSession);
  const checked = new Map<string, { until: number; alive: Promise<boolean> }>();

  function alive(session: EdgeSession): Promise<boolean> {
    const key = `${session.sid}\n${session.gid}\n${session.sub}`;
    const at = now();
    const known = checked.get(key);
    if (known && known.until > at) return known.alive;
    const answer = probe(session.sid).then((found) => !!found && found.accountId === session.sub && found.grantId === session.gid);
    checked.delete(key);
    checked.set(key, { until: at + checkSeconds * 1000, alive: answer });
    answer.catch(() => checked.get(key)?.alive === answer && checked.delete(key));
    if (checked.size > maxEntries) checked.delete(checked.keys().next().value!);
    return answer;
  }

  return {
    seal,
    open,

    /** The session a cookie header carries, when it is intact, unexpired, not revoked and its Gatehouse session lives. */
    async fromCookieHeader(header: string | undefined): Promise<EdgeSession | undefined> {
      for (const value of cookieValues(header, EDGE_SESSION_COOKIE)) {
        const session = open(value);
        if (!session || session.exp * 1000 <= now() || isRevoked({ sub: session.sub, iat: session.iat })) continue;
        if (await alive(session)) return session;
      }
      return undefined;
    },

    /** Forgets what this instance knows of a session (its own sign-out). */
    forget(session: EdgeSession) {
      checked.delete(`${session.sid}\n${session.gid}\n${session.sub}`);
    },
  };
}

export type EdgeSessions = ReturnType<typeof createEdgeSessions>;

/**
 * Every value of one cookie in a Cookie header. A browser sends two of one name when it holds
 * a host-only cookie and a domain cookie (EDGE_COOKIE_DOMAIN changed): each is tried in turn.
 */
export function cookieValues(header: string | undefined, name: string): string[] {
  if (!header?.includes(name)) return [];
  const values: string[] = [];
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq !== -1 && pair.slice(0, eq).trim() === name) values.push(pair.slice(eq + 1).trim());
  }
  return values.slice(0, 4);
}
