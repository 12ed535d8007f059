import { createHash } from 'node:crypto';
import type { Context, Next } from 'koa';
import { RateLimiterPrisma } from 'rate-limiter-flexible';
import type { Config } from '../../core/config.ts';
import type { Database } from '../../core/database.ts';
import { paths } from '../paths.ts';

export interface Decision {
  allowed: boolean;
  retryAfterSeconds: number;
}

export interface SharedLimiter {
  consume(key: string): Decision | Promise<Decision>;
  /**
   * Counts and allows a request when that is decided in memory (a busy key under its limit);
   * otherwise counts nothing and answers false, and the request goes to `consume`.
   */
  consumeAtOnce(key: string): boolean;
  /** Stops syncing after writing what is pending. */
  close(): Promise<void>;
}

interface KeyState {
  key: string;
  windowEnd: number;
  /** The shared total as of this instance's last round trip to PostgreSQL, plus what it sent since. */
  known: number;
  /** Requests this instance allowed and has not yet added to the shared total. */
  pending: number;
  /** When the last round trip that refreshed `known` started. */
  syncedAt: number;
  ready?: Promise<void>;
}

/**
 * A fixed-window limiter whose counters live in PostgreSQL (rate-limiter-flexible's
 * RateLimiterPrisma on the `rate_limits` table), so every instance enforces one shared limit,
 * with an in-memory tier in front so that the hot path almost never waits on the database.
 *
 * Why this shape: awaiting an upsert per request would put a database round trip (two
 * statements in RateLimiterPrisma) on every token request and halve client_credentials
 * throughput. Instead each instance
 * - awaits the shared counter when it has not synced a key within the last interval (the first
 *   request of a window, or any request of a quiet key), which counts the request and gives it
 *   the total the other instances have counted, so quiet keys are exact across instances;
 * - for a busy key (synced within the interval), counts locally and allows or rejects from
 *   `known + pending` with no I/O at all; so is a key already over the limit (attack traffic
 *   never reaches the database);
 * - adds its local counts to the shared row every RATE_LIMIT_SYNC_MS in one upsert per key,
 *   learning the others' totals in the same round trip.
 * Requests it rejects are never written. The cost is bounded slack: between two syncs an
 * instance may allow up to (its request rate × sync interval) beyond the limit. If PostgreSQL
 * is unreachable the limiter keeps counting per instance (the local tier is the insurance).
 */
export function createSharedLimiter(options: {
  db: Database;
  name: string;
  points: number;
  windowSeconds: number;
  syncMs: number;
  onError: (error: unknown) => void;
}): SharedLimiter {
  const { db, name, points, windowSeconds, syncMs, onError } = options;
  const store = new RateLimiterPrisma({
    storeClient: db,
    tableName: 'rateLimit',
    keyPrefix: `rl:${name}`,
    points,
    duration: windowSeconds,
    // Its sweep of expired rows covers the whole table: one limiter running it is enough.
    clearExpiredByTimeout: name === 'ip',
  });
  const states = new Map<string, KeyState>();
  const dirty = new Set<string>();
  const inFlight = new Set<Promise<void>>();

  const reject = (s: KeyState, now: number): Decision => ({ allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((s.windowEnd - now) / 1000)) });
  const allow: Decision = { allowed: true, retryAfterSeconds: 0 };

  const countLocally = (s: KeyState, now: number): Decision => {
    if (s.known + s.pending >= points) return reject(s, now);
    s.pending += 1;
    dirty.add(s.key);
    return allow;
  };

  /** Adds `add` to the shared row; `known` already includes it, so a failed write still counts here. */
  const sync = async (s: KeyState, add: number, startedAt: number) => {
    try {
      const res = await store.penalty(s.key, add);
      s.known = res.consumedPoints;
      s.syncedAt = Math.max(s.syncedAt, startedAt);
      if (res.msBeforeNext >= 0) s.windowEnd = startedAt + res.msBeforeNext;
    } catch (error) {
      // Count locally for a while rather than make every request wait on a failing database.
      s.syncedAt = Date.now() + 5000;
      onError(error);
    }
  };

  const flush = () => {
    const now = Date.now();
    const waiting: string[] = [];
    for (const key of dirty) {
      const s = states.get(key);
      if (!s || s.pending === 0) continue;
      if (s.ready) {
        waiting.push(key); // its awaited round trip is still out: next time
        continue;
      }
      const add = s.pending;
      s.pending = 0;
      s.known += add;
      const write = sync(s, add, now).finally(() => inFlight.delete(write));
      inFlight.add(write);
    }
    dirty.clear();
    for (const key of waiting) dirty.add(key);
    if (states.size > 10_000) for (const [key, s] of states) if (s.windowEnd <= now && !s.pending) states.delete(key);
  };
  const timer = setInterval(flush, syncMs).unref();

  const isHot = (s: KeyState, now: number) => !s.ready && s.windowEnd > now && now - s.syncedAt < syncMs;

  return {
    consumeAtOnce(key) {
      const now = Date.now();
      const s = states.get(key);
      return !!s && isHot(s, now) && countLocally(s, now).allowed;
    },
    consume(key) {
      const now = Date.now();
      let s = states.get(key);
      if (s?.ready) return s.ready.then(() => countLocally(s!, Date.now()));
      if (s && s.windowEnd > now) {
        // Hot keys (synced within the last interval) and keys already over the limit need no I/O.
        if (isHot(s, now) || s.known + s.pending >= points) return countLocally(s, now);
      } else {
        s = { key, windowEnd: now + windowSeconds * 1000, known: 0, pending: 0, syncedAt: 0 };
        states.set(key, s);
      }
      // A key this instance has not heard about for a while: one awaited round trip counts this
      // request and brings back what the other instances have counted meanwhile.
      const state = s;
      state.known += 1;
      const ready = sync(state, 1, now).then(() => {
        state.ready = undefined;
      });
      state.ready = ready;
      return ready.then(() => (state.known > points ? reject(state, Date.now()) : allow));
    },
    async close() {
      clearInterval(timer);
      flush();
      await Promise.all(inFlight);
    },
  };
}

const exempt = new Set<string>([paths.healthz, paths.readyz, paths.metrics]);
const clientEndpoints = new Set<string>([paths.token, paths.introspection, paths.revocation]);
const isInteraction = (path: string) => path.startsWith(paths.interactionUrl(''));
const rendersHtml = (ctx: Context) =>
  (isInteraction(ctx.path) || ctx.path === paths.authorization || ctx.path.startsWith(paths.end_session)) && ctx.accepts('json', 'html') === 'html';

/** Which limits apply to a request, and the key each counts it under. */
interface Rule {
  name: 'ip' | 'client' | 'login';
  applies(ctx: Context): boolean;
  key(ctx: Context): string | undefined | Promise<string | undefined>;
}

const BODY_LIMIT = 56 * 1024;

/**
 * The client a token-endpoint request names, unverified (it only picks a counter): the Basic
 * user name, else the `client_id` form parameter. Reading the form consumes the stream, so the
 * text is left on `req.body`, where oidc-provider's body parser looks for an upstream parse.
 */
async function claimedClientId(ctx: Context): Promise<string | undefined> {
  const auth = ctx.get('authorization');
  if (/^basic /i.test(auth)) {
    const user = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8').split(':')[0];
    try {
      return decodeURIComponent(user.replace(/\+/g, ' ')) || undefined;
    } catch {
      return user || undefined;
    }
  }
  if (!ctx.is('application/x-www-form-urlencoded')) return undefined;
  if ((ctx.request.length ?? 0) > BODY_LIMIT) throw bodyTooLarge;
  const chunks: Buffer[] = [];
  let size = 0;
  // Read to the end even past the limit: a body left half-read would be taken for the next
  // request on a kept-alive connection, and a cut-off form must never reach oidc-provider.
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size <= BODY_LIMIT) chunks.push(chunk as Buffer);
  }
  if (size > BODY_LIMIT) throw bodyTooLarge;
  const text = Buffer.concat(chunks).toString('utf8');
  (ctx.req as unknown as { body: string }).body = text;
  return new URLSearchParams(text).get('client_id') ?? undefined;
}

const bodyTooLarge = new Error('request body too large');

// Keys are bounded in length for the varchar(255) column, whatever a client sends.
const boundedKey = (key: string) => (key.length <= 200 ? key : createHash('sha256').update(key).digest('base64url'));

const rules: Rule[] = [
  { name: 'ip', applies: (ctx) => !exempt.has(ctx.path), key: (ctx) => ctx.state.clientIp },
  {
    name: 'client',
    applies: (ctx) => ctx.method === 'POST' && clientEndpoints.has(ctx.path),
    key: async (ctx) => (ctx.state.claimedClientId = await claimedClientId(ctx)),
  },
  { name: 'login', applies: (ctx) => ctx.method === 'POST' && isInteraction(ctx.path), key: (ctx) => ctx.state.clientIp },
];

function respondRateLimited(ctx: Context, retryAfterSeconds: number) {
  ctx.status = 429;
  ctx.set('Retry-After', String(retryAfterSeconds));
  ctx.set('Cache-Control', 'no-store');
  const description = `too many requests; retry after ${retryAfterSeconds} seconds`;
  if (rendersHtml(ctx)) {
    ctx.type = 'html';
    ctx.body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Too many attempts</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem"><h1>Too many attempts</h1>
<p>Please wait ${retryAfterSeconds} seconds, then try again.</p></body></html>`;
    return;
  }
  ctx.body = { error: 'rate_limited', error_description: description };
}

export interface RateLimits {
  middleware: (ctx: Context, next: Next) => Promise<void>;
  /**
   * For a request only the per-IP limit applies to (a GET of a public document): true when it
   * is counted and allowed in memory. False sends it through `middleware`, which waits for the
   * shared counter or answers 429.
   */
  admitsAtOnce(ip: string): boolean;
  close(): Promise<void>;
}

/**
 * Koa middleware that applies every rule to every request and answers 429 with Retry-After
 * in the endpoint's own format. Runs after clientIp (it needs `ctx.state.clientIp`).
 */
export function createRateLimits(options: {
  db: Database;
  config: Config['rateLimit'];
  onError: (error: unknown) => void;
  onReject?: (rule: string) => void;
}): RateLimits {
  const { db, config, onError, onReject = () => {} } = options;
  const points = { ip: config.perIp, client: config.perClient, login: config.loginPerIp };
  const limiters = Object.fromEntries(
    rules.map((r) => [r.name, createSharedLimiter({ db, name: r.name, points: points[r.name], windowSeconds: config.windowSeconds, syncMs: config.syncMs, onError })]),
  ) as Record<Rule['name'], SharedLimiter>;

  return {
    async middleware(ctx, next) {
      for (const rule of rules) {
        if (!rule.applies(ctx)) continue;
        let key;
        try {
          key = await rule.key(ctx);
        } catch (error) {
          if (error !== bodyTooLarge) throw error;
          // oidc-provider's own limit and answer for the same case.
          ctx.status = 400;
          ctx.body = { error: 'invalid_request', error_description: 'failed to parse the request body' };
          return;
        }
        if (!key) continue;
        const decision = await limiters[rule.name].consume(boundedKey(key));
        if (!decision.allowed) {
          onReject(rule.name);
          respondRateLimited(ctx, decision.retryAfterSeconds);
          return;
        }
      }
      await next();
    },
    admitsAtOnce: (ip) => limiters.ip.consumeAtOnce(boundedKey(ip)),
    async close() {
      await Promise.all(Object.values(limiters).map((limiter) => limiter.close()));
    },
  };
}
