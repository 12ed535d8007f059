import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { ClientRecord, ClientService } from '../core/clients.ts';

export interface ClientLookup {
  find(clientId: string): Promise<ClientRecord | undefined>;
}

/**
 * Clients are read from the clients table through a short-lived per-process cache (the token
 * endpoint would otherwise pay a query per request). The database stays the only source of
 * truth: a change is seen by every instance within CLIENT_CACHE_TTL seconds.
 */
export function createClientLookup(clients: ClientService, ttlSeconds: number, now = Date.now): ClientLookup & { clear(): void } {
  const cache = new Map<string, { at: number; value: Promise<ClientRecord | undefined> }>();
  return {
    find(clientId) {
      const hit = cache.get(clientId);
      if (hit && now() - hit.at < ttlSeconds * 1000) return hit.value;
      const value = clients.find(clientId);
      if (ttlSeconds > 0) {
        cache.set(clientId, { at: now(), value });
        value.catch(() => cache.delete(clientId));
        if (cache.size > 10_000) cache.delete(cache.keys().next().value!);
      }
      return value;
    },
    clear: () => cache.clear(),
  };
}

// oidc-provider requires a client_secret in the metadata of clients that authenticate with one.
// The real secrets are only stored hashed; this stand-in never matches anything because
// compareClientSecret is replaced (see provider.ts) and HMAC-based algorithms are disabled.
const SECRET_STANDIN = 'hashed-secret-see-client_secrets-table-00000000';

export function toProviderMetadata(record: ClientRecord): AdapterPayload {
  const usesSecret = String(record.metadata.token_endpoint_auth_method ?? 'client_secret_basic').startsWith('client_secret_');
  return { ...record.metadata, first_party: record.firstParty, ...(usesSecret && { client_secret: SECRET_STANDIN }) } as AdapterPayload;
}

export function createClientAdapter(lookup: ClientLookup): Adapter {
  const readOnly = async () => {
    throw new Error('clients are managed with the gatehouse CLI, not through the provider');
  };
  return {
    async find(id) {
      const record = await lookup.find(id);
      return record && toProviderMetadata(record);
    },
    upsert: readOnly,
    destroy: readOnly,
    consume: readOnly,
    findByUid: async () => undefined,
    findByUserCode: async () => undefined,
    revokeByGrantId: async () => undefined,
  };
}
