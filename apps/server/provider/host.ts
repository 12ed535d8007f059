import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import { systemClock, type Clock } from '../../core/clock.ts';
import type { KeyService, KeySet } from '../../core/keys/key-service.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export interface ProviderHost {
  readonly provider: Provider;
  readonly handle: Handler;
  /** Re-reads the key set; rebuilds the provider when it changed. */
  refresh(): Promise<boolean>;
  stop(): void;
}

/**
 * oidc-provider fixes its key set at construction. Keys live in the database and rotate while
 * instances run, so each instance re-reads them on an interval (and at the instant a pending key
 * activates) and swaps in a provider built with the new set. Every provider artifact is in
 * PostgreSQL, so the swap loses nothing.
 */
export async function createProviderHost(options: {
  keys: KeyService;
  build: (keySet: KeySet) => Provider;
  refreshIntervalSeconds: number;
  onError?: (error: unknown) => void;
  /** The clock the key service dates activations by; the wait until one is a real timer. */
  clock?: Clock;
}): Promise<ProviderHost> {
  const { keys, build, refreshIntervalSeconds, onError = () => {}, clock = systemClock } = options;
  let keySet = await keys.keySet();
  let provider = build(keySet);
  let handle = provider.callback() as unknown as Handler;
  let activationTimer: NodeJS.Timeout | undefined;

  const scheduleActivation = () => {
    clearTimeout(activationTimer);
    if (!keySet.nextChangeAt) return;
    const delay = keySet.nextChangeAt.getTime() - clock() + 50;
    if (delay < refreshIntervalSeconds * 1000) activationTimer = setTimeout(() => void refresh().catch(onError), Math.max(delay, 0)).unref();
  };

  async function refresh(): Promise<boolean> {
    const next = await keys.keySet();
    scheduleActivation();
    if (next.version === keySet.version) return false;
    const nextProvider = build(next);
    keySet = next;
    provider = nextProvider;
    handle = provider.callback() as unknown as Handler;
    scheduleActivation();
    return true;
  }

  const interval = setInterval(() => void refresh().catch(onError), refreshIntervalSeconds * 1000).unref();
  scheduleActivation();

  return {
    get provider() {
      return provider;
    },
    get handle() {
      return handle;
    },
    refresh,
    stop() {
      clearInterval(interval);
      clearTimeout(activationTimer);
    },
  };
}
