import { readFileSync } from 'node:fs';
import type { ApiService } from '../core/apis/api-service.ts';
import { authMethods, grantTypes, type ClientRecord, type ClientService, type CreateClientBody } from '../core/clients/client-service.ts';
import { formatRate } from '../core/rate-limits/rate.ts';
import { commaSeparated, formatDate, table, UsageError, wholeSeconds, type Command, type Noun } from './output.ts';

type Needs = { clients: ClientService; apis: ApiService };

function readJson(path: string, flag: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`${flag}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(`${flag}: ${path} is not valid JSON`);
  }
}

const shownOnce = (clientId: string) => `The secret is shown only once: store it now (if it is lost, run 'gatehouse client rotate-secret ${clientId}').`;

const create: Command<Needs> = {
  summary: 'register a client and print its client_id and, once, its secret',
  options: {
    name: { type: 'string', field: 'name', value: 'NAME', required: true, description: 'display name, shown on the consent page' },
    'grant-types': {
      type: 'string',
      field: 'grantTypes',
      value: 'LIST',
      required: true,
      parse: commaSeparated,
      description: `comma-separated: ${grantTypes.join(', ')}`,
    },
    'redirect-uri': {
      type: 'string',
      field: 'redirectUris',
      value: 'URL',
      multiple: true,
      description: 'where authorization responses go (authorization_code needs one); repeat for more',
    },
    'post-logout-redirect-uri': {
      type: 'string',
      field: 'postLogoutRedirectUris',
      value: 'URL',
      multiple: true,
      description: 'where the user may be sent after logout; repeat for more',
    },
    'auth-method': {
      type: 'string',
      field: 'authMethod',
      value: 'METHOD',
      description: `token endpoint authentication: ${authMethods.join(', ')} (default client_secret_basic)`,
    },
    scope: { type: 'string', field: 'scope', value: 'SCOPE', description: 'space-separated scopes it may request (default "openid profile email")' },
    'jwks-file': {
      type: 'string',
      field: 'jwks',
      value: 'PATH',
      parse: readJson,
      description: "JSON file holding the client's public keys as a JWK Set (for private_key_jwt)",
    },
    'jwks-uri': { type: 'string', field: 'jwksUri', value: 'URL', description: 'where the client publishes its JWK Set (for private_key_jwt)' },
    resource: {
      type: 'string',
      field: 'resources',
      value: 'URI',
      multiple: true,
      description: "an API it may get tokens for, with --scope ∩ the API's scopes (all of them without --scope); repeat for more",
    },
    'backchannel-logout-uri': {
      type: 'string',
      field: 'backchannelLogoutUri',
      value: 'URL',
      description: 'where Gatehouse posts a logout token when the user signs out',
    },
    'first-party': {
      type: 'boolean',
      field: 'firstParty',
      description: 'one of your own apps: skips the consent page and gets refresh tokens without offline_access',
    },
  },
  async run({ fields }, { clients, apis }) {
    // Checked before the client is written, so a bad --resource or --scope leaves nothing behind.
    const grants = await apis.planClientResources({ resources: fields.resources as string[] | undefined, scope: fields.scope as string | undefined });
    const { clientId, clientSecret, metadata } = await clients.create(fields as CreateClientBody);
    for (const grant of grants) await apis.grantClient({ clientId, ...grant });
    const text = clientSecret ? [`client_id:     ${clientId}`, `client_secret: ${clientSecret}`, shownOnce(clientId)] : [`client_id: ${clientId}`];
    return { text: text.join('\n'), json: { client_id: clientId, ...(clientSecret && { client_secret: clientSecret }), ...metadata } };
  },
};

const rotateSecret: Command<Needs> = {
  summary: 'issue a new secret; the previous one keeps working for a grace period',
  args: ['ID'],
  options: {
    grace: {
      type: 'string',
      field: 'graceSeconds',
      value: 'SECONDS',
      parse: wholeSeconds,
      description: 'how long the previous secret stays valid (default 86400, one day)',
    },
  },
  async run({ args: [id], fields }, { clients }) {
    const { clientId, clientSecret, previousExpiresAt } = await clients.rotateSecret(id, fields.graceSeconds as number | undefined);
    const previous = previousExpiresAt ? `The previous secret stays valid until ${formatDate(previousExpiresAt)}.` : 'No previous secret was live.';
    return {
      text: [`client_secret: ${clientSecret}`, shownOnce(clientId), previous].join('\n'),
      json: { client_id: clientId, client_secret: clientSecret, previous_secret_expires_at: previousExpiresAt ?? null },
    };
  },
};

/** `default` puts the server's default back (stored as null); anything else goes to the service, which validates it. */
const orDefault = (parse: (raw: string, flag: string) => unknown) => (raw: string, flag: string) => (raw === 'default' ? null : parse(raw, flag));

const wholeNumber = (raw: string, flag: string) => {
  if (!/^\d{1,7}$/.test(raw)) throw new UsageError(`${flag}: expected a whole number, or 'default'`);
  return Number(raw);
};

const rateLimitOf = ({ rateLimit }: ClientRecord) =>
  rateLimit.rate || rateLimit.burst ? `${rateLimit.rate ? formatRate(rateLimit.rate) : 'default'}, burst ${rateLimit.burst ?? 'default'}` : 'default';

const update: Command<Needs> = {
  summary: "change a client's settings: its request quota once authenticated",
  args: ['ID'],
  options: {
    'rate-limit': {
      type: 'string',
      field: 'rateLimit',
      value: 'RATE',
      parse: orDefault((raw) => raw),
      description: "its sustained rate, e.g. 500/s, 3000/m (N/s, N/m or N/h), for a known heavy service; 'default' for RATE_LIMIT_PER_CLIENT",
    },
    'rate-limit-burst': {
      type: 'string',
      field: 'rateLimitBurst',
      value: 'N',
      parse: orDefault(wholeNumber),
      description: "how many requests it may send at once; 'default' for RATE_LIMIT_PER_CLIENT_BURST",
    },
  },
  async run({ args: [id], fields }, { clients }) {
    if (Object.keys(fields).length === 0) throw new UsageError('nothing to change (give --rate-limit or --rate-limit-burst)');
    const changed = await clients.update(id, fields);
    return {
      text: `client ${changed.clientId}: rate limit ${rateLimitOf(changed)}`,
      json: {
        client_id: changed.clientId,
        rate_limit: changed.rateLimit.rate ? formatRate(changed.rateLimit.rate) : null,
        rate_limit_burst: changed.rateLimit.burst ?? null,
      },
    };
  },
};

const metadataOf = (client: ClientRecord) => client.metadata as { grant_types?: string[]; token_endpoint_auth_method?: string };

const list: Command<Needs> = {
  summary: 'list clients, oldest first',
  async run(_input, { clients }) {
    const all = await clients.list();
    return {
      text: table(
        ['CLIENT_ID', 'NAME', 'GRANT_TYPES', 'AUTH_METHOD', 'LIVE_SECRETS', 'RATE_LIMIT', 'CREATED'],
        all.map((c) => [
          c.clientId,
          c.name,
          (metadataOf(c).grant_types ?? []).join(','),
          metadataOf(c).token_endpoint_auth_method ?? '-',
          c.secretHashes.length,
          rateLimitOf(c),
          formatDate(c.createdAt),
        ]),
      ),
      json: all.map((c) => ({
        ...c.metadata,
        client_id: c.clientId,
        first_party: c.firstParty,
        live_secrets: c.secretHashes.length,
        rate_limit: c.rateLimit.rate ? formatRate(c.rateLimit.rate) : null,
        rate_limit_burst: c.rateLimit.burst ?? null,
        created_at: c.createdAt,
      })),
    };
  },
};

export const client: Noun = {
  summary: 'register clients, list them, change their quotas and rotate their secrets',
  commands: { create, update, 'rotate-secret': rotateSecret, list },
};
