import { unlessTaken, type Database } from '../db/database.ts';

/** An API as stored; `tokenFormat` is `jwt` or `opaque`. */
export interface ApiRow {
  id: string;
  identifier: string;
  name: string | null;
  scopes: string[];
  tokenFormat: string;
  ttl: number;
  rbac: boolean;
  createdAt: Date;
}

export type NewApi = Omit<ApiRow, 'id' | 'createdAt'>;

/** An API as one client relates to it (allowed to call it, or to exchange tokens for it), with the scopes stored for that client. */
export interface ClientApiRow {
  scopes: string[];
  api: ApiRow;
}

/** The APIs, and the clients' relations to them (client_apis, token_exchange_policies, resource_server_clients); plain objects in and out. */
export function createApiQueries(db: Database) {
  return {
    /** Stores the API; undefined when one already has that identifier. */
    create: (api: NewApi): Promise<ApiRow | undefined> => unlessTaken(db.api.create({ data: api })),

    /** Stores the API unless one has that identifier (two instances may race); whether this call stored it. */
    createUnlessExists: async (api: NewApi) => (await db.api.createMany({ data: [api], skipDuplicates: true })).count > 0,

    update: (id: string, changes: { rbac?: boolean }): Promise<ApiRow> => db.api.update({ where: { id }, data: changes }),

    /** Every API, oldest first. */
    list: (): Promise<ApiRow[]> => db.api.findMany({ orderBy: { createdAt: 'asc' } }),

    findByIdentifier: async (identifier: string): Promise<ApiRow | undefined> => (await db.api.findUnique({ where: { identifier } })) ?? undefined,

    /** The APIs of those identifiers that exist, in no particular order. */
    findByIdentifiers: (identifiers: string[]): Promise<ApiRow[]> => db.api.findMany({ where: { identifier: { in: identifiers } } }),

    /** The longest access-token lifetime any API sets, in seconds; 0 with no API. */
    longestTtl: async () => (await db.api.aggregate({ _max: { ttl: true } }))._max.ttl ?? 0,

    /** Lets the client get tokens for the API with `scopes`, replacing what it had there. */
    async allowClient(clientId: string, apiId: string, scopes: string[]): Promise<void> {
      await db.clientApi.upsert({ where: { clientId_apiId: { clientId, apiId } }, create: { clientId, apiId, scopes }, update: { scopes } });
    },

    /** The APIs the client may get tokens for, in no particular order. */
    allowedFor: (clientId: string): Promise<ClientApiRow[]> => db.clientApi.findMany({ where: { clientId }, select: { scopes: true, api: true } }),

    /** Lets the client exchange tokens for the API, with at most `scopes` (none: any of the API's), replacing what it had there. */
    async allowExchange(clientId: string, apiId: string, scopes: string[]): Promise<void> {
      await db.tokenExchangePolicy.upsert({ where: { clientId_apiId: { clientId, apiId } }, create: { clientId, apiId, scopes }, update: { scopes } });
    },

    /** The APIs the client may exchange tokens for, in no particular order. */
    exchangesFor: (clientId: string): Promise<ClientApiRow[]> => db.tokenExchangePolicy.findMany({ where: { clientId }, select: { scopes: true, api: true } }),

    /** Makes the client a resource server of the API; nothing changes when it already is. */
    async addResourceServer(apiId: string, clientId: string): Promise<void> {
      await db.resourceServerClient.upsert({ where: { apiId_clientId: { apiId, clientId } }, create: { apiId, clientId }, update: {} });
    },

    /** The identifiers of the APIs the client is a resource server of, in no particular order. */
    servedBy: async (clientId: string): Promise<string[]> =>
      (await db.resourceServerClient.findMany({ where: { clientId }, select: { api: { select: { identifier: true } } } })).map((row) => row.api.identifier),
  };
}

export type ApiQueries = ReturnType<typeof createApiQueries>;
