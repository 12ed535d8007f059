import type { RateLimitQueries } from './queries.ts';
import { intervalMs, type Limit } from './rate.ts';
import { systemClock, type Clock } from '../clock.ts';
import { digest } from '../digest.ts';

export interface Decision {
  allowed: boolean;
  /** Whole seconds until one more request fits (at least 1); 0 when allowed. */
  retryAfterSeconds: number;
}

interface Entry {
  /** GCRA's theoretical arrival time: the bucket is full again at this instant (epoch ms). */
  tat: number;
  /** Refill time this instance spent and has not added to the shared row yet. */
  unsentMs: number;
  /** The cost of one request (ms) and the burst the key was last used with; 0 for a key only heard of. */
  costMs: number;
  burst: number;
}

export interface Buckets {
  /** Spends one request if it fits: a request ceiling. */
  take(rule: string, key: string, limit: Limit): Decision;
  /** Whether one more request would fit, spending nothing: a budget spent only on some outcomes. */
  check(rule: string, key: string, limit: Limit): Decision;
  /** Spends one request whether or not it fits (the bucket never goes below empty). */
  spend(rule: string, key: string, limit: Limit): void;
  /** One exchange with the other instances (the timer runs it every `syncMs`). */
  sync(): Promise<void>;
  /** Stops the timer after sending what is pending. */
  close(): Promise<void>;
}

const allowed: Decision = { allowed: true, retryAfterSeconds: 0 };
const refused = (excessMs: number): Decision => ({ allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(excessMs / 1000)) });

// Keys are bounded for the varchar(255) column whatever a request carried.
const idOf = (rule: string, key: string) => (key.length <= 200 ? `${rule}:${key}` : `${rule}:${digest(key)}`);

/**
 * A shared row is named for its key and the limit it was spent under (`<id>@<cost ms>x<burst>`):
 * a row's time means requests only at that limit's cost, so spending recorded under a quota that
 * has since changed is never read back as if it were spent under the new one.
 */
const rowKeyOf = (id: string, entry: Pick<Entry, 'costMs' | 'burst'>) => `${id}@${entry.costMs}x${entry.burst}`;
function parseRowKey(key: string): { id: string; costMs: number; burst: number } | undefined {
  const at = key.lastIndexOf('@');
  const match = at === -1 ? null : /^(\d+(?:\.\d+)?)x(\d+)$/.exec(key.slice(at + 1));
  return match ? { id: key.slice(0, at), costMs: Number(match[1]), burst: Number(match[2]) } : undefined;
}

/**
 * Token buckets in GCRA form (one "theoretical arrival time" per key), decided in memory on every
 * instance, so no request ever waits on the database. Instances share the buckets that matter:
 * a key that has spent more than half its burst is "under pressure", and every `syncMs` one
 * statement adds what this instance spent on such keys to their rows in PostgreSQL and brings
 * back what every instance has written lately. A key that never comes under pressure (a new
 * address, an invented client id) costs no write at all. The slack is bounded: an instance may
 * spend half a burst of a key before it syncs it, plus what arrives within one interval.
 * Without a database (`queries` failing or absent) each instance limits alone.
 */
export function createBuckets({
  queries,
  syncMs,
  now = systemClock,
  onError = () => {},
}: {
  queries?: Pick<RateLimitQueries, 'exchange'>;
  syncMs: number;
  now?: Clock;
  onError?: (error: unknown) => void;
}): Buckets {
  const entries = new Map<string, Entry>();
  const pressured = new Set<string>();
  // Rows changed within this much of the last exchange come back again: a write that committed
  // late, or an instance whose clock is a little behind, is still seen.
  const overlapMs = Math.max(1000, 3 * syncMs);
  let since = now() - overlapMs;
  let quiet = false;
  let rounds = 0;
  let running: Promise<void> | undefined;

  /**
   * A key's debt counts in requests: when its limit changes (a client's quota raised), what it
   * spent is rescaled to the new cost rather than kept as time.
   */
  function current(id: string, limit: Limit, at: number) {
    const costMs = intervalMs(limit.rate);
    const entry = entries.get(id);
    if (entry?.costMs && entry.costMs !== costMs) {
      const ratio = costMs / entry.costMs;
      entry.tat = at + Math.max(0, entry.tat - at) * ratio;
      entry.unsentMs *= ratio;
      entry.costMs = costMs;
    }
    const tat = Math.max(entry?.tat ?? at, at);
    return { entry, costMs, toleranceMs: costMs * limit.burst, tat };
  }

  function record(id: string, entry: Entry | undefined, next: number, at: number, costMs: number, burst: number) {
    const state = entry ?? { tat: at, unsentMs: 0, costMs, burst };
    if (!entry) entries.set(id, state);
    state.unsentMs += next - Math.max(state.tat, at);
    state.tat = next;
    state.costMs = costMs;
    state.burst = burst;
    if (next - at > (costMs * burst) / 2) pressured.add(id);
  }

  function decide(rule: string, key: string, limit: Limit, spendIfAllowed: boolean): Decision {
    const at = now();
    const id = idOf(rule, key);
    const { entry, costMs, toleranceMs, tat } = current(id, limit, at);
    const excess = tat + costMs - at - toleranceMs;
    if (excess > 0) return refused(excess);
    if (spendIfAllowed) record(id, entry, tat + costMs, at, costMs, limit.burst);
    return allowed;
  }

  function merge(rowKey: string, tat: number, at: number) {
    const row = parseRowKey(rowKey);
    if (!row) return;
    const entry = entries.get(row.id);
    if (!entry) {
      // Heard of before it is used here: `current` rescales it if this instance's limit differs.
      if (tat > at) entries.set(row.id, { tat, unsentMs: 0, costMs: row.costMs, burst: row.burst });
      return;
    }
    if (entry.costMs !== row.costMs || entry.burst !== row.burst) return;
    entry.tat = Math.max(entry.tat, tat + Math.min(entry.unsentMs, Math.max(0, entry.tat - at)));
  }

  async function exchange(always: boolean) {
    if (!queries) return;
    const at = now();
    const adds: Array<[string, number]> = [];
    for (const id of pressured) {
      const entry = entries.get(id);
      if (!entry || entry.tat - at <= (entry.costMs * entry.burst) / 2) {
        pressured.delete(id);
        continue;
      }
      // What was spent and has since refilled is nothing to the others.
      adds.push([rowKeyOf(id, entry), Math.round(Math.min(entry.unsentMs, entry.tat - at))]);
      entry.unsentMs = 0;
    }
    // While nothing is under pressure anywhere, the others' rows are looked at ten times less often.
    if (!always && !adds.length && quiet && rounds % 10 !== 0) return;
    try {
      const rows = await queries.exchange({ now: at, since, adds });
      since = at - overlapMs;
      quiet = rows.length === 0 && adds.length === 0;
      const after = now();
      for (const row of rows) merge(row.key, row.tat, after);
    } catch (error) {
      for (const [rowKey, add] of adds) {
        const entry = entries.get(parseRowKey(rowKey)!.id);
        if (entry) entry.unsentMs += add;
      }
      onError(error);
    }
  }

  /** Full buckets say nothing a missing entry would not: forgotten once a second. */
  function forgetFull() {
    const at = now();
    for (const [id, entry] of entries) {
      if (entry.tat <= at) {
        entries.delete(id);
        pressured.delete(id);
      }
    }
  }

  const forgetEvery = Math.max(1, Math.round(1000 / syncMs));
  const timer = setInterval(() => {
    rounds++;
    if (rounds % forgetEvery === 0) forgetFull();
    if (!running) running = exchange(false).finally(() => (running = undefined));
  }, syncMs).unref();

  return {
    take: (rule, key, limit) => decide(rule, key, limit, true),
    check: (rule, key, limit) => decide(rule, key, limit, false),
    spend(rule, key, limit) {
      const at = now();
      const id = idOf(rule, key);
      const { entry, costMs, toleranceMs, tat } = current(id, limit, at);
      record(id, entry, Math.max(tat, Math.min(tat + costMs, at + toleranceMs)), at, costMs, limit.burst);
    },
    async sync() {
      await running;
      running = exchange(true).finally(() => (running = undefined));
      await running;
    },
    async close() {
      clearInterval(timer);
      await running;
      await exchange(true);
    },
  };
}
