import { z } from 'zod';
import { createClientQueries, type ClientQueries } from '../clients/client-queries.ts';
import { oidcScopes } from '../clients/client-service.ts';
import type { Database } from '../db/database.ts';
import { createApiQueries, type ApiQueries, type ApiRow, type ClientApiRow } from './api-queries.ts';
import { AppError, notFound } from '../errors.ts';
import { parseInput } from '../validation.ts';
import type { AuditLog } from '../audit/audit-log.ts';

export const tokenFormats = ['jwt', 'opaque'] as const;
export type TokenFormat = (typeof tokenFormats)[number];

const scopeToken = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'expected scope tokens (no spaces, quotes or backslashes)');
/** Accepts "a b c" or ["a", "b"]; returns unique tokens in the order given. */
const scopeList = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => [...new Set((Array.isArray(v) ? v : v.split(' ')).map((s) => s.trim()).filter(Boolean))])
  .pipe(z.array(scopeToken).max(100, 'at most 100 scopes'));

const audience = z
  .url({ error: 'expected an absolute URI' })
  .max(2000)
  .refine((u) => !u.includes('#'), 'must not contain a fragment');

export const createApiBodySchema = z.object({
  identifier: audience,
  name: z.string().trim().min(1).max(200).optional(),
  scopes: scopeList.default([]),
  tokenFormat: z.enum(tokenFormats, { error: `expected ${tokenFormats.join(' or ')}` }).default('jwt'),
  /** Access-token lifetime in seconds: one minute to one day. */
  ttl: z.coerce.number().int().min(60, 'expected at least 60 seconds').max(86_400, 'expected at most 86400 seconds').default(3600),
  /** RBAC: a user's token gets only the requested scopes that the user's roles on this API grant. */
  rbac: z.boolean().default(false),
});

export const updateApiBodySchema = z.object({
  identifier: audience,
  rbac: z.boolean().optional(),
});

export const grantBodySchema = z.object({
  clientId: z.string().min(1),
  identifier: audience,
  /** Omitted: every scope of the API. */
  scopes: scopeList.optional(),
});

export const resourceServerBodySchema = z.object({
  clientId: z.string().min(1),
  identifier: audience,
});

/** What `client create --resource ... --scope ...` asks for: checked whole before the client is written. */
export const clientResourcesSchema = z.object({
  resources: z.array(audience).default([]),
  /** Omitted: every scope of each API. */
  scope: scopeList.optional(),
});

export type CreateApiBody = z.input<typeof createApiBodySchema>;
export type GrantBody = z.input<typeof grantBodySchema>;

export interface ApiRecord {
  id: string;
  identifier: string;
  name: string | null;
  scopes: string[];
  tokenFormat: TokenFormat;
  ttl: number;
  rbac: boolean;
  createdAt: Date;
}

/** An API a client may get tokens for, with the scopes it may have there. */
export interface ClientResource {
  identifier: string;
  scopes: string[];
  tokenFormat: TokenFormat;
  ttl: number;
  /** A user's token gets only the scopes their roles on the API grant. */
  rbac: boolean;
}

const isOidcScope = (scope: string) => (oidcScopes as readonly string[]).includes(scope);

const toRecord = (row: ApiRow): ApiRecord => ({ ...row, tokenFormat: row.tokenFormat as TokenFormat });

/** What a client may do at an API: the scopes stored for it that the API still defines (`orAll`: none stored means all of them). */
const toResource = ({ scopes, api }: ClientApiRow, orAll = false): ClientResource => ({
  identifier: api.identifier,
  scopes: orAll && !scopes.length ? api.scopes : scopes.filter((s) => api.scopes.includes(s)),
  tokenFormat: api.tokenFormat as TokenFormat,
  ttl: api.ttl,
  rbac: api.rbac,
});

/** The API service on its queries (and the clients it checks), or on a database to make them from. */
export type ApiStorage = { queries: ApiQueries; clients: Pick<ClientQueries, 'exists' | 'metadata'> } | { db: Database };

/**
 * What is wrong with naming `scopes` for `api`, if anything: scopes it does not define. Scopes
 * named for an API (a client's, a role's, a route's) must be its own: a typo must not quietly
 * grant nothing.
 */
export function undefinedScopes(api: { identifier: string; scopes: string[] }, scopes: string[]): string | undefined {
  const unknown = scopes.filter((s) => !api.scopes.includes(s));
  return unknown.length ? `scopes: ${unknown.join(' ')} not defined by ${api.identifier}` : undefined;
}

/** APIs (RFC 8707 resource servers), which clients may call them, and who may exchange tokens for them. */
export function createApiService(options: { audit?: AuditLog } & ApiStorage) {
  const { queries, clients } = 'db' in options ? { queries: createApiQueries(options.db), clients: createClientQueries(options.db) } : options;
  const record: AuditLog['record'] = (event) => options.audit?.record(event) ?? Promise.resolve();
  async function requireApi(identifier: string) {
    const api = await queries.findByIdentifier(identifier);
    if (!api) throw new AppError('api.not_found', `no API with identifier ${identifier}`, { status: 404 });
    return api;
  }
  function requireDefined(api: { identifier: string; scopes: string[] }, scopes: string[] = []) {
    const problem = undefinedScopes(api, scopes);
    if (problem) throw new AppError('api.invalid_input', problem);
  }
  async function requireClient(clientId: string) {
    if (!(await clients.exists(clientId))) throw notFound('client', clientId);
  }

  return {
    async create(input: CreateApiBody): Promise<ApiRecord> {
      const body = parseInput(createApiBodySchema, input, 'api');
      const created = await queries.create({ ...body, name: body.name ?? null });
      if (!created) throw new AppError('api.identifier_taken', `an API with identifier ${body.identifier} already exists`, { status: 409 });
      const api = toRecord(created);
      await record({ type: 'api.created', details: { identifier: api.identifier, scopes: api.scopes, tokenFormat: api.tokenFormat, ttl: api.ttl } });
      return api;
    },

    /** Registers an API Gatehouse itself serves, unless it exists (two instances starting together: one wins). */
    async ensure(input: CreateApiBody): Promise<void> {
      const body = parseInput(createApiBodySchema, input, 'api');
      if (await queries.createUnlessExists({ ...body, name: body.name ?? null }))
        await record({ type: 'api.created', actor: 'system', details: { identifier: body.identifier, scopes: body.scopes } });
    },

    /** Changes an API's settings (today: RBAC on or off). */
    async update(input: z.input<typeof updateApiBodySchema>): Promise<ApiRecord> {
      const { identifier, ...changes } = parseInput(updateApiBodySchema, input, 'api');
      const api = await requireApi(identifier);
      const updated = toRecord(await queries.update(api.id, changes));
      await record({ type: 'api.changed', details: { identifier, ...changes } });
      return updated;
    },

    async list(): Promise<ApiRecord[]> {
      return (await queries.list()).map(toRecord);
    },

    async findByIdentifier(identifier: string): Promise<ApiRecord | undefined> {
      const row = await queries.findByIdentifier(identifier);
      return row && toRecord(row);
    },

    /** The API with that identifier, else `api.not_found` (404). */
    async require(identifier: string): Promise<ApiRecord> {
      return toRecord(await requireApi(identifier));
    },

    /** Lets the client get tokens for the API, with `scopes` (each defined by the API) or all of the API's. */
    async grantClient(input: GrantBody): Promise<ClientResource> {
      const body = parseInput(grantBodySchema, input, 'api');
      const api = await requireApi(body.identifier);
      await requireClient(body.clientId);
      requireDefined(api, body.scopes);
      const scopes = body.scopes ?? api.scopes;
      await queries.allowClient(body.clientId, api.id, scopes);
      await record({ type: 'api.client_allowed', clientId: body.clientId, details: { identifier: api.identifier, scopes } });
      return { identifier: api.identifier, scopes, tokenFormat: api.tokenFormat as TokenFormat, ttl: api.ttl, rbac: api.rbac };
    },

    /**
     * The grants for a client about to be created with `resources` and `scope`, checked before
     * anything is written: each resource is a registered API, and each scope is an OpenID
     * Connect scope or defined by one of them. Each API gets the requested scopes it defines.
     */
    async planClientResources(input: z.input<typeof clientResourcesSchema>): Promise<Array<{ identifier: string; scopes?: string[] }>> {
      const body = parseInput(clientResourcesSchema, input, 'api');
      const apis = await queries.findByIdentifiers(body.resources);
      // biome-ignore lint/complexity/useIndexOf: the test is not an equality (a false positive)
      const missing = body.resources.findIndex((identifier) => !apis.some((a) => a.identifier === identifier));
      if (missing >= 0) throw new AppError('api.invalid_input', `resources.${missing}: no API has this identifier`);
      const stray = body.scope?.find((s) => !isOidcScope(s) && !apis.some((a) => a.scopes.includes(s)));
      if (stray) throw new AppError('api.invalid_input', `scope: ${stray} is neither an OpenID Connect scope nor defined by any of the resources given`);
      return apis.map((api) => ({ identifier: api.identifier, scopes: body.scope && api.scopes.filter((s) => body.scope!.includes(s)) }));
    },

    /** Every API the client may get tokens for. One query: the token endpoint reads it (through a cache). */
    async resourcesForClient(clientId: string): Promise<ClientResource[]> {
      return (await queries.allowedFor(clientId)).map((row) => toResource(row));
    },

    /** RFC 8693: the client may exchange subject tokens for tokens for this API, with at most `scopes`. */
    async allowExchange(input: GrantBody): Promise<{ clientId: string; identifier: string; scopes: string[] }> {
      const body = parseInput(grantBodySchema, input, 'api');
      const api = await requireApi(body.identifier);
      await requireClient(body.clientId);
      requireDefined(api, body.scopes);
      const scopes = body.scopes ?? [];
      await queries.allowExchange(body.clientId, api.id, scopes);
      await record({ type: 'api.exchange_allowed', clientId: body.clientId, details: { identifier: api.identifier, scopes } });
      return { clientId: body.clientId, identifier: api.identifier, scopes };
    },

    /**
     * Makes the client (one of) the API's resource server: the service behind the identifier. It
     * may introspect the API's tokens and use them as token-exchange subjects; a client allowed
     * to call the API may do neither. A public client (`none`) cannot be one.
     */
    async addResourceServer(input: { clientId: string; identifier: string }): Promise<{ clientId: string; identifier: string }> {
      const { clientId, identifier } = parseInput(resourceServerBodySchema, input, 'api');
      const api = await requireApi(identifier);
      const metadata = await clients.metadata(clientId);
      if (!metadata) throw notFound('client', clientId);
      if ((metadata as { token_endpoint_auth_method?: string }).token_endpoint_auth_method === 'none') {
        throw new AppError('api.invalid_input', `clientId: ${clientId} is a public client (none), which cannot authenticate as a resource server`);
      }
      await queries.addResourceServer(api.id, clientId);
      await record({ type: 'api.resource_server_added', clientId, details: { identifier: api.identifier } });
      return { clientId, identifier: api.identifier };
    },

    /** The identifiers of the APIs the client is a resource server of. */
    async servedBy(clientId: string): Promise<string[]> {
      return queries.servedBy(clientId);
    },

    /** The exchange policies of a client: target API and the scopes it may carry there (empty policy = all the API's). */
    async exchangeTargets(clientId: string): Promise<ClientResource[]> {
      return (await queries.exchangesFor(clientId)).map((row) => toResource(row, true));
    },
  };
}

export type ApiService = ReturnType<typeof createApiService>;
