import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { ClientRecord, ClientService } from '../../core/clients/client-service.ts';
import { createTtlCache } from '../../core/ttl-cache.ts';
import { systemClock, type Clock } from '../../core/clock.ts';

export interface ClientLookup {
  find(clientId: string): Promise<ClientRecord | undefined>;
}

/** Clients are read from the clients table through a cache of CLIENT_CACHE_TTL seconds (core/ttl-cache.ts). */
// Printable ASCII, as RFC 6749 Appendix A.1 defines client_id: anything else names no client, and
// is not looked up (a NUL would fail in PostgreSQL) nor cached.
const possibleClientId = /^[\x20-\x7e]{1,255}$/;

export function createClientLookup(clients: ClientService, ttlSeconds: number, now: Clock = systemClock): ClientLookup & { clear(): void } {
  const cache = createTtlCache((clientId) => clients.find(clientId), ttlSeconds, now);
  return { find: async (clientId) => (possibleClientId.test(clientId) ? cache.get(clientId) : undefined), clear: cache.clear };
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
