import { systemClock, type Clock } from './clock.ts';

/**
 * A per-process cache of database reads for the token endpoint's hot path (clients, their
 * APIs). It holds the promise, so concurrent misses share one query, and drops failures.
 * The database stays the only source of truth: every instance sees a change within the TTL.
 */
export function createTtlCache<T>(load: (key: string) => Promise<T>, ttlSeconds: number, now: Clock = systemClock) {
  const cache = new Map<string, { at: number; value: Promise<T> }>();
  return {
    get(key: string): Promise<T> {
      const hit = cache.get(key);
      if (hit && now() - hit.at < ttlSeconds * 1000) return hit.value;
      const value = load(key);
      if (ttlSeconds > 0) {
        cache.set(key, { at: now(), value });
        value.catch(() => cache.delete(key));
        if (cache.size > 10_000) cache.delete(cache.keys().next().value!);
      }
      return value;
    },
    clear: () => cache.clear(),
  };
}
