import { readFileSync } from 'node:fs';
import type { ApiService } from '../core/apis.ts';
import { authMethods, grantTypes, type ClientRecord, type ClientService, type CreateClientBody } from '../core/clients.ts';
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

const shownOnce = (clientId: string) =>
  `The secret is shown only once: store it now (if it is lost, run 'gatehouse client rotate-secret ${clientId}').`;

const create: Command<Needs> = {
  summary: 'register a client and print its client_id and, once, its secret',
  options: {
    name: { type: 'string', field: 'name', value: 'NAME', required: true, description: 'display name, shown on the consent page' },
    'grant-types': { type: 'string', field: 'grantTypes', value: 'LIST', required: true, parse: commaSeparated, description: `comma-separated: ${grantTypes.join(', ')}` },
    'redirect-uri': { type: 'string', field: 'redirectUris', value: 'URL', multiple: true, description: 'where authorization responses go (authorization_code needs one); repeat for more' },
    'post-logout-redirect-uri': { type: 'string', field: 'postLogoutRedirectUris', value: 'URL', multiple: true, description: 'where the user may be sent after logout; repeat for more' },
    'auth-method': { type: 'string', field: 'authMethod', value: 'METHOD', description: `token endpoint authentication: ${authMethods.join(', ')} (default client_secret_basic)` },
    scope: { type: 'string', field: 'scope', value: 'SCOPE', description: 'space-separated scopes it may request (default "openid profile email")' },
    'jwks-file': { type: 'string', field: 'jwks', value: 'PATH', parse: readJson, description: 'JSON file holding the client\'s public keys as a JWK Set (for private_key_jwt)' },
    'jwks-uri': { type: 'string', field: 'jwksUri', value: 'URL', description: 'where the client publishes its JWK Set (for private_key_jwt)' },
    resource: { type: 'string', field: 'resources', value: 'URI', multiple: true, description: 'an API it may get tokens for, with --scope ∩ the API\'s scopes (all of them without --scope); repeat for more' },
    'backchannel-logout-uri': { type: 'string', field: 'backchannelLogoutUri', value: 'URL', description: 'where Gatehouse posts a logout token when the user signs out' },
    'first-party': { type: 'boolean', field: 'firstParty', description: 'one of your own apps: skips the consent page and gets refresh tokens without offline_access' },
  },
  async run({ fields }, { clients, apis }) {
    // Checked before the client is written, so a bad --resource or --scope leaves nothing behind.
    const grants = await apis.planClientResources({ resources: fields.resources as string[] | undefined, scope: fields.scope as string | undefined });
    const { clientId, clientSecret, metadata } = await clients.create(fields as CreateClientBody);
    for (const grant of grants) await apis.grantClient({ clientId, ...grant });
    const text = clientSecret
      ? [`client_id:     ${clientId}`, `client_secret: ${clientSecret}`, shownOnce(clientId)]
      : [`client_id: ${clientId}`];
    return { text: text.join('\n'), json: { client_id: clientId, ...(clientSecret && { client_secret: clientSecret }), ...metadata } };
  },
};

const rotateSecret: Command<Needs> = {
  summary: 'issue a new secret; the previous one keeps working for a grace period',
  args: ['ID'],
  options: {
    grace: { type: 'string', field: 'graceSeconds', value: 'SECONDS', parse: wholeSeconds, description: 'how long the previous secret stays valid (default 86400, one day)' },
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

const metadataOf = (client: ClientRecord) => client.metadata as { grant_types?: string[]; token_endpoint_auth_method?: string };

const list: Command<Needs> = {
  summary: 'list clients, oldest first',
  async run(_input, { clients }) {
    const all = await clients.list();
    return {
      text: table(
        ['CLIENT_ID', 'NAME', 'GRANT_TYPES', 'AUTH_METHOD', 'LIVE_SECRETS', 'CREATED'],
        all.map((c) => [c.clientId, c.name, (metadataOf(c).grant_types ?? []).join(','), metadataOf(c).token_endpoint_auth_method ?? '-', c.secretHashes.length, formatDate(c.createdAt)]),
      ),
      json: all.map((c) => ({ ...c.metadata, client_id: c.clientId, first_party: c.firstParty, live_secrets: c.secretHashes.length, created_at: c.createdAt })),
    };
  },
};

export const client: Noun = {
  summary: 'register clients, list them and rotate their secrets',
  commands: { create, 'rotate-secret': rotateSecret, list },
};
