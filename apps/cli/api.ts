import { tokenFormats, type ApiRecord, type ApiService } from '../core/apis/api-service.ts';
import { formatDate, table, UsageError, wholeSeconds, type Command, type Noun } from './output.ts';

type Needs = { apis: ApiService };

const describeApi = (api: ApiRecord) => ({
  identifier: api.identifier,
  name: api.name,
  scopes: api.scopes,
  token_format: api.tokenFormat,
  ttl: api.ttl,
  rbac: api.rbac,
  created_at: api.createdAt,
});

const create: Command<Needs> = {
  summary: 'register an API (a resource server): the audience its access tokens name',
  options: {
    identifier: { type: 'string', field: 'identifier', value: 'URI', required: true, description: 'the audience URI clients ask for with `resource`' },
    name: { type: 'string', field: 'name', value: 'NAME', description: 'display name' },
    scopes: { type: 'string', field: 'scopes', value: 'SCOPES', description: 'space-separated scopes the API defines, e.g. "orders:read orders:write"' },
    'token-format': { type: 'string', field: 'tokenFormat', value: 'FORMAT', description: `${tokenFormats.join(' or ')} (default jwt, RFC 9068)` },
    ttl: { type: 'string', field: 'ttl', value: 'SECONDS', parse: wholeSeconds, description: 'access-token lifetime (default 3600)' },
    rbac: {
      type: 'boolean',
      field: 'rbac',
      description: "a user's token gets only the requested scopes that the user's roles on this API grant (see gatehouse role)",
    },
    'resource-server': {
      type: 'string',
      field: 'resourceServers',
      value: 'CLIENT_ID',
      multiple: true,
      description: "a client that is this API's service: it may introspect the API's tokens and exchange them (repeat for more)",
    },
  },
  async run({ fields }, { apis }) {
    const { resourceServers = [], ...body } = fields as Parameters<ApiService['create']>[0] & { resourceServers?: string[] };
    const api = await apis.create(body);
    for (const clientId of resourceServers) await apis.addResourceServer({ clientId, identifier: api.identifier });
    return {
      text: `api ${api.identifier} created (${api.tokenFormat} tokens, ${api.ttl} s, scopes: ${api.scopes.join(' ') || '-'})`,
      json: { ...describeApi(api), resource_servers: resourceServers },
    };
  },
};

const list: Command<Needs> = {
  summary: 'list APIs, oldest first',
  async run(_input, { apis }) {
    const all = await apis.list();
    return {
      text: table(
        ['IDENTIFIER', 'SCOPES', 'FORMAT', 'TTL', 'RBAC', 'CREATED'],
        all.map((a) => [a.identifier, a.scopes.join(' ') || '-', a.tokenFormat, a.ttl, a.rbac ? 'on' : 'off', formatDate(a.createdAt)]),
      ),
      json: all.map(describeApi),
    };
  },
};

const grantOptions = {
  client: { type: 'string', field: 'clientId', value: 'ID', required: true, description: 'the client' },
  api: { type: 'string', field: 'identifier', value: 'URI', required: true, description: "the API's identifier" },
  scopes: { type: 'string', field: 'scopes', value: 'SCOPES', description: 'space-separated; default every scope of the API' },
} as const;

const allow: Command<Needs> = {
  summary: 'let a client get client_credentials tokens for an API',
  options: grantOptions,
  async run({ fields }, { apis }) {
    const grant = await apis.grantClient(fields as Parameters<ApiService['grantClient']>[0]);
    return {
      text: `client ${fields.clientId} may get tokens for ${grant.identifier} with: ${grant.scopes.join(' ') || '(no scope)'}`,
      json: { client_id: fields.clientId, ...grant },
    };
  },
};

const allowExchange: Command<Needs> = {
  summary: 'let a client exchange tokens (RFC 8693) for tokens for an API',
  options: grantOptions,
  async run({ fields }, { apis }) {
    const policy = await apis.allowExchange(fields as Parameters<ApiService['allowExchange']>[0]);
    return {
      text: `client ${policy.clientId} may exchange tokens for ${policy.identifier} (scopes: ${policy.scopes.join(' ') || "any of the API's"})`,
      json: policy,
    };
  },
};

const onOff = (value: string, flag: string) => {
  if (value === 'on' || value === 'off') return value === 'on';
  throw new UsageError(`${flag}: expected on or off`);
};

const update: Command<Needs> = {
  summary: "change an API's settings",
  args: ['URI'],
  options: {
    rbac: {
      type: 'string',
      field: 'rbac',
      value: 'on|off',
      parse: onOff,
      description: "on: a user's token gets only the requested scopes that the user's roles grant",
    },
  },
  async run({ args: [identifier], fields }, { apis }) {
    if (fields.rbac === undefined) throw new UsageError('nothing to change (give --rbac on|off)');
    const api = await apis.update({ identifier, rbac: fields.rbac as boolean });
    return { text: `api ${api.identifier}: rbac ${api.rbac ? 'on' : 'off'}`, json: describeApi(api) };
  },
};

const addResourceServer: Command<Needs> = {
  summary: "make a client the API's resource server: it may introspect the API's tokens and exchange them",
  options: { client: grantOptions.client, api: grantOptions.api },
  async run({ fields }, { apis }) {
    const served = await apis.addResourceServer(fields as Parameters<ApiService['addResourceServer']>[0]);
    return {
      text: `client ${served.clientId} is a resource server of ${served.identifier}`,
      json: { client_id: served.clientId, identifier: served.identifier },
    };
  },
};

export const api: Noun = {
  summary: 'register APIs (resource servers) and say which clients may use them',
  commands: { create, list, update, allow, 'allow-exchange': allowExchange, 'add-resource-server': addResourceServer },
};
