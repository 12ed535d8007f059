import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { SecretHasher } from './client-secrets.ts';
import { createClientQueries, type ClientQueries, type ClientRow } from './client-queries.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { systemClock, type Clock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import { AppError, notFound } from '../errors.ts';
import { parseInput } from '../validation.ts';
import { formatRate, parseRate, rateSyntax, type Rate } from '../rate-limits/rate.ts';

export const grantTypes = ['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange'] as const;
export const authMethods = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'] as const;
const secretAuthMethods = new Set<string>(['client_secret_basic', 'client_secret_post']);

/** The OpenID Connect scopes the provider itself knows; every other scope belongs to an API. */
export const oidcScopes = ['openid', 'offline_access', 'profile', 'email', 'address', 'phone', 'groups'] as const;
const isOidcScope = (scope: string) => (oidcScopes as readonly string[]).includes(scope);

const redirectUri = z.url({ error: 'expected an absolute URL' }).refine((u) => !u.includes('#'), 'must not contain a fragment');

export const createClientBodySchema = z
  .object({
    name: z.string().trim().min(1, 'is required').max(200),
    grantTypes: z.array(z.enum(grantTypes, { error: `expected one of ${grantTypes.join(', ')}` })).min(1, 'needs at least one grant type'),
    redirectUris: z.array(redirectUri).default([]),
    postLogoutRedirectUris: z.array(redirectUri).default([]),
    authMethod: z.enum(authMethods, { error: `expected one of ${authMethods.join(', ')}` }).default('client_secret_basic'),
    scope: z
      .string()
      .trim()
      .regex(/^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/, 'expected space-separated scope tokens')
      .default('openid profile email'),
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1) }).optional(),
    jwksUri: z.url().optional(),
    firstParty: z.boolean().default(false),
    backchannelLogoutUri: z.url().optional(),
    /** Extra registered metadata (RFC 7591 names), e.g. from later capabilities. */
    extra: z.record(z.string(), z.unknown()).default({}),
  })
  .superRefine((body, ctx) => {
    const needsRedirect = body.grantTypes.includes('authorization_code');
    if (needsRedirect && body.redirectUris.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['redirectUris'], message: 'authorization_code needs at least one redirect URI' });
    }
    if (body.authMethod === 'none' && body.grantTypes.includes('client_credentials')) {
      ctx.addIssue({ code: 'custom', path: ['authMethod'], message: 'a public client (none) cannot use client_credentials' });
    }
    // Anyone could present a public client's id: an exchanger must prove who it is, or any
    // caller holding a subject token could turn it into a token for another API.
    if (body.authMethod === 'none' && body.grantTypes.includes('urn:ietf:params:oauth:grant-type:token-exchange')) {
      ctx.addIssue({ code: 'custom', path: ['authMethod'], message: 'a public client (none) cannot use token exchange' });
    }
    if (body.authMethod === 'private_key_jwt' && !body.jwks && !body.jwksUri) {
      ctx.addIssue({ code: 'custom', path: ['authMethod'], message: "private_key_jwt needs the client's public keys (jwks or jwksUri)" });
    }
  });

export type CreateClientBody = z.input<typeof createClientBodySchema>;

/**
 * RFC 8252 §7.3: a loopback IP literal. `localhost` is left out (§8.3): a name can resolve
 * elsewhere, or to an interface other apps listen on. The URL parser has already normalised
 * IPv4 spellings such as `0x7f.1` to dotted decimal.
 */
const isLoopbackIp = (hostname: string) => hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);

const plainHttpOffLoopback = (uri: string) => {
  const url = URL.parse(uri);
  return url?.protocol === 'http:' && !isLoopbackIp(url.hostname);
};

/**
 * Production adds RFC 9700 §2.6: codes, and logout tokens, travel only over TLS, except to a
 * native app listening on the loopback interface of the user's own machine.
 */
const productionClientBodySchema = createClientBodySchema.superRefine((body, ctx) => {
  const callbacks = [
    ...body.redirectUris.map((uri, i) => ({ path: ['redirectUris', i], uri })),
    ...body.postLogoutRedirectUris.map((uri, i) => ({ path: ['postLogoutRedirectUris', i], uri })),
    ...(body.backchannelLogoutUri ? [{ path: ['backchannelLogoutUri'], uri: body.backchannelLogoutUri }] : []),
  ];
  for (const { path, uri } of callbacks) {
    if (plainHttpOffLoopback(uri))
      ctx.addIssue({ code: 'custom', path, message: 'must be https in production (plain http only to a loopback IP: 127.0.0.1 or [::1])' });
  }
});

/** A client's own quota once authenticated; what is unset is the server's default (RATE_LIMIT_PER_CLIENT*). */
export interface ClientRateLimit {
  rate?: Rate;
  burst?: number;
}

/** `gatehouse client update`: each field given replaces the stored one; `null` goes back to the default. */
export const updateClientBodySchema = z.object({
  rateLimit: z
    .string()
    .refine((text) => parseRate(text) !== undefined, `expected ${rateSyntax}`)
    .transform((text) => formatRate(parseRate(text)!))
    .nullable()
    .optional(),
  rateLimitBurst: z.number().int().min(1).max(1_000_000).nullable().optional(),
});

export type UpdateClientBody = z.input<typeof updateClientBodySchema>;

export interface ClientRecord {
  clientId: string;
  name: string;
  firstParty: boolean;
  rateLimit: ClientRateLimit;
  metadata: Record<string, unknown>;
  secretHashes: Array<{ hash: string; expiresAt: Date | null }>;
  createdAt: Date;
}

export interface CreatedClient {
  clientId: string;
  clientSecret?: string;
  metadata: Record<string, unknown>;
}

/**
 * 128 random bits, base64url: 22 characters that never begin with `-` or `_`, so a client id can
 * follow a command on a command line (`gatehouse client rotate-secret ID`) without reading as an
 * option. Draws again in the 1 case out of 32 where it would.
 */
export function newClientId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (id[0] !== '-' && id[0] !== '_') return id;
  }
}

export interface ClientServiceOptions {
  secrets: SecretHasher;
  audit?: AuditLog;
  /** Production: redirect, post-logout and back-channel logout URIs must be https, or http to a loopback IP. */
  requireHttpsRedirects?: boolean;
  now?: Clock;
}

/** The client service on its queries, or on a database to make them from. */
export type ClientStorage = { queries: ClientQueries } | { db: Database };

const toRecord = (row: ClientRow): ClientRecord => ({
  clientId: row.id,
  name: row.name,
  firstParty: row.firstParty,
  rateLimit: { rate: (row.rateLimit && parseRate(row.rateLimit)) || undefined, burst: row.rateLimitBurst ?? undefined },
  metadata: row.metadata,
  secretHashes: row.secrets,
  createdAt: row.createdAt,
});

export function createClientService(options: ClientServiceOptions & ClientStorage) {
  const { secrets, audit, requireHttpsRedirects = false, now: clock = systemClock } = options;
  const now = () => new Date(clock());
  const queries = 'db' in options ? createClientQueries(options.db) : options.queries;
  const bodySchema = requireHttpsRedirects ? productionClientBodySchema : createClientBodySchema;

  return {
    async create(input: CreateClientBody): Promise<CreatedClient> {
      const body = parseInput(bodySchema, input, 'client');
      const clientId = newClientId();
      const metadata: Record<string, unknown> = {
        ...body.extra,
        client_id: clientId,
        client_name: body.name,
        grant_types: body.grantTypes,
        response_types: body.grantTypes.includes('authorization_code') ? ['code'] : [],
        redirect_uris: body.redirectUris,
        post_logout_redirect_uris: body.postLogoutRedirectUris,
        token_endpoint_auth_method: body.authMethod,
        // API scopes (orders:read) live in client_apis, granted per API; the client's own
        // metadata lists only the OpenID scopes, which is all oidc-provider accepts there.
        scope: body.scope.split(' ').filter(isOidcScope).join(' ') || undefined,
        ...(body.jwks && { jwks: body.jwks }),
        ...(body.jwksUri && { jwks_uri: body.jwksUri }),
        ...(body.backchannelLogoutUri && { backchannel_logout_uri: body.backchannelLogoutUri, backchannel_logout_session_required: true }),
      };
      const clientSecret = secretAuthMethods.has(body.authMethod) ? secrets.generate() : undefined;
      // 128 random bits: a taken id means the generator is broken, not bad luck.
      if (
        !(await queries.create({
          id: clientId,
          name: body.name,
          metadata,
          firstParty: body.firstParty,
          secretHash: clientSecret && secrets.hash(clientSecret),
        }))
      ) {
        throw new Error(`client id ${clientId} is already taken`);
      }
      await audit?.record({ type: 'client.created', clientId, details: { name: body.name, authMethod: body.authMethod, grantTypes: body.grantTypes } });
      return { clientId, clientSecret, metadata };
    },

    async find(clientId: string): Promise<ClientRecord | undefined> {
      const row = await queries.find(clientId, now());
      return row && toRecord(row);
    },

    list: async (): Promise<ClientRecord[]> => (await queries.list(now())).map(toRecord),

    /** Changes what `body` names (a quota, for now) and records it in the audit trail. */
    async update(clientId: string, input: UpdateClientBody): Promise<ClientRecord> {
      const body = parseInput(updateClientBodySchema, input, 'client');
      const row = await queries.update(clientId, body, now());
      if (!row) throw notFound('client', clientId);
      await audit?.record({ type: 'client.changed', clientId, details: body });
      return toRecord(row);
    },

    /**
     * Issues a new secret. The newest previous one stays valid for `graceSeconds` (so the
     * client can roll over without downtime); any older one ends now. At most two are live.
     */
    async rotateSecret(clientId: string, graceSeconds = 24 * 3600): Promise<{ clientId: string; clientSecret: string; previousExpiresAt?: Date }> {
      const metadata = await queries.metadata(clientId);
      if (!metadata) throw notFound('client', clientId);
      const method = (metadata as { token_endpoint_auth_method?: string }).token_endpoint_auth_method;
      if (!method || !secretAuthMethods.has(method)) {
        throw new AppError('client.no_secret', `client ${clientId} authenticates with ${method}, which uses no secret`);
      }
      const at = now();
      const clientSecret = secrets.generate();
      const previousExpiresAt = new Date(at.getTime() + graceSeconds * 1000);
      const { keptPrevious } = await queries.replaceSecret(clientId, secrets.hash(clientSecret), { at, previousUntil: previousExpiresAt });
      await audit?.record({
        type: 'client.secret_rotated',
        clientId,
        details: { previousExpiresAt: keptPrevious ? previousExpiresAt.toISOString() : undefined },
      });
      return { clientId, clientSecret, previousExpiresAt: keptPrevious ? previousExpiresAt : undefined };
    },

    /** Whether `secret` is one of the client's live secrets. */
    verifySecret(record: ClientRecord, secret: string, at = now()): boolean {
      return record.secretHashes.some((s) => (!s.expiresAt || s.expiresAt > at) && secrets.matches(secret, s.hash));
    },
  };
}

export type ClientService = ReturnType<typeof createClientService>;
