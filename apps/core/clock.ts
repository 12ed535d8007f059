/**
 * What Gatehouse reads the time from: epoch milliseconds. Every TTL, window and expiry Gatehouse
 * decides itself reads one, so a test can move time instead of sleeping. oidc-provider keeps its
 * own clock (Date.now) for the TTLs of its artifacts; intervals and timeouts stay real timers.
 */
export type Clock = () => number;

// Read at each call, not bound once: a test that fakes Date moves this clock with it.
export const systemClock: Clock = () => Date.now();
