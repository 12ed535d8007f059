import type { KeyInfo, KeyService } from '../core/keys/key-service.ts';
import { formatDate, table, type Command, type Noun } from './output.ts';

type Needs = { keys: KeyService };

const keyTable = (keys: KeyInfo[]) =>
  table(
    ['KID', 'ALG', 'STATE', 'ACTIVATES', 'EXPIRES'],
    keys.map((k) => [k.kid, k.alg, k.state, formatDate(k.activatesAt), formatDate(k.expiresAt)]),
  );

const keyJson = (k: KeyInfo) => ({
  kid: k.kid,
  alg: k.alg,
  state: k.state,
  created_at: k.createdAt,
  activates_at: k.activatesAt,
  retired_at: k.retiredAt,
  expires_at: k.expiresAt,
});

const list: Command<Needs> = {
  summary: 'list the published signing keys: next (published, not signing yet), current, retired',
  async run(_input, { keys }) {
    const all = await keys.list();
    return { text: keyTable(all), json: all.map(keyJson) };
  },
};

const rotate: Command<Needs> = {
  summary: 'publish a new key per algorithm; it starts signing once caches of the old JWKS have expired',
  async run(_input, { keys }) {
    const before = new Set((await keys.list()).map((k) => k.kid));
    const created = (await keys.rotate()).filter((k) => !before.has(k.kid));
    const from = Math.min(...created.map((k) => k.activatesAt.getTime()));
    const inSeconds = Math.round((from - Date.now()) / 1000);
    return {
      text: `${keyTable(created)}\nPublished now; they start signing at ${formatDate(new Date(from))} (in ${inSeconds} s), once every cached copy of the previous JWKS has expired.`,
      json: { created: created.map(keyJson) },
    };
  },
};

export const keys: Noun = { summary: 'list and rotate the token signing keys', commands: { list, rotate } };
