import { digest } from '../../core/digest.ts';
import DataLoader from 'dataloader';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import { mergedPerTurn, sqlOf, type Database, type Sql } from '../../core/db/database.ts';
import { requestScope } from '../../core/request-context.ts';

/**
 * oidc-provider's storage for every model except Client (see client-adapter.ts), all in one
 * table with promoted, indexed columns. Ids and user codes are stored as SHA-256 digests: many
 * of them are bearer values (codes, opaque tokens, session cookies), and a database dump must
 * hold none of those. The payload's own copy of the id (`jti`) is dropped for the same reason
 * and restored from the caller's id on read, and an interaction's copy of the session cookie is
 * dropped.
 */
export { digest };

/** A row as the driver adapter returns it: JSON as text, timestamps as ISO strings. */
interface Row {
  model: string;
  id: string;
  payload: string;
  consumed_at: string | null;
  expires_at: string | null;
}

const rowColumns = 'model, id, payload, consumed_at, expires_at';
const selectRow = `SELECT ${rowColumns} FROM oidc_payloads`;

interface Write {
  model: string;
  id: string;
  payload: string;
  grantId: string | null;
  userCode: string | null;
  uid: string | null;
  accountId: string | null;
  expiresAt: string | null;
}

/**
 * Reads by id or uid, upserts and deletes, the statements nearly every protocol request makes,
 * are merged across concurrent requests: whatever the requests of one event-loop turn ask for
 * goes to PostgreSQL as one statement (database.ts `mergedPerTurn`), and a batch of writes as one
 * commit. Under load that is one round trip, one plan execution and one WAL flush for many
 * requests instead of one each; alone, a request waits one turn. Each caller still gets its own
 * answer, after its own row is read or committed.
 */
interface Batches {
  read: DataLoader<{ models: string[]; id: string }, Row[]>;
  readByUid: DataLoader<{ model: string; uid: string }, Row[]>;
  upsert: DataLoader<Write, void>;
  destroy: DataLoader<{ model: string; id: string }, void>;
}

/**
 * The statements of the hot paths. Each is planned once per connection (database.ts), so each
 * must find its rows through an index whatever the size of the table when it is planned. The
 * merged reads and the delete look in the cross product of the models and ids (or uids) asked
 * for, which the composite index answers, and drop what nobody asked for after. Revoking by grant
 * uses its partial index (schema.prisma), which an equal value implies.
 */
export const statements = {
  read: `${selectRow} WHERE model = ANY($1) AND id = ANY($2)`,
  readByUid: `SELECT ${rowColumns}, uid FROM oidc_payloads WHERE model = ANY($1) AND uid = ANY($2)`,
  // A model name has no space and a digest neither. A join against unnest() of the pairs got a
  // generic plan that scanned the whole table (planned while the table was small).
  destroy: `DELETE FROM oidc_payloads WHERE model = ANY($1) AND id = ANY($2) AND model || ' ' || id = ANY($3)`,
  // ON CONFLICT may touch a row once per statement: of two writes to one row, the later wins.
  upsert: `INSERT INTO oidc_payloads (model, id, payload, grant_id, user_code, uid, account_id, expires_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[]::jsonb[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamp(3)[])
       ON CONFLICT (model, id) DO UPDATE SET
         payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id, user_code = EXCLUDED.user_code,
         uid = EXCLUDED.uid, account_id = EXCLUDED.account_id, expires_at = EXCLUDED.expires_at`,
  revokeByGrantId: 'DELETE FROM oidc_payloads WHERE model = $1 AND grant_id = $2',
};

const batchesOf = new WeakMap<Sql, Batches>();
const distinct = <T>(values: T[]) => [...new Set(values)];

function batches(sql: Sql): Batches {
  let found = batchesOf.get(sql);
  if (found) return found;
  const read = new DataLoader<{ models: string[]; id: string }, Row[]>(async (keys) => {
    const rows = await sql.rows<Row>(statements.read, [distinct(keys.flatMap((k) => k.models)), distinct(keys.map((k) => k.id))]);
    return keys.map(({ models: wanted, id }) => rows.filter((row) => row.id === id && wanted.includes(row.model)));
  }, mergedPerTurn);
  const readByUid = new DataLoader<{ model: string; uid: string }, Row[]>(async (keys) => {
    const rows = await sql.rows<Row & { uid: string }>(statements.readByUid, [distinct(keys.map((k) => k.model)), distinct(keys.map((k) => k.uid))]);
    // A uid names one row of its model.
    return keys.map(({ model, uid }) => rows.filter((row) => row.uid === uid && row.model === model).slice(0, 1));
  }, mergedPerTurn);
  const upsert = new DataLoader<Write, void>(async (writes) => {
    const rows = [...new Map(writes.map((w) => [`${w.model}\u0000${w.id}`, w])).values()];
    const column = <T>(pick: (w: Write) => T) => rows.map(pick);
    await sql.execute(statements.upsert, [
      column((w) => w.model),
      column((w) => w.id),
      column((w) => w.payload),
      column((w) => w.grantId),
      column((w) => w.userCode),
      column((w) => w.uid),
      column((w) => w.accountId),
      column((w) => w.expiresAt),
    ]);
    return writes.map(() => undefined);
  }, mergedPerTurn);
  const destroy = new DataLoader<{ model: string; id: string }, void>(async (keys) => {
    await sql.execute(statements.destroy, [distinct(keys.map((k) => k.model)), distinct(keys.map((k) => k.id)), keys.map((k) => `${k.model} ${k.id}`)]);
    return keys.map(() => undefined);
  }, mergedPerTurn);
  batchesOf.set(sql, (found = { read, readByUid, upsert, destroy }));
  return found;
}

/**
 * Introspection and revocation look a token up as an AccessToken, then a ClientCredentials
 * token, then a RefreshToken: three queries for one value. Within a request, the first find of
 * a bearer value reads its rows under all three models at once, and the others are answered
 * from that read. Any write to the value drops what was read.
 */
const bearerModels = ['AccessToken', 'ClientCredentials', 'RefreshToken'];
const bearerReads = new WeakMap<object, Map<string, Promise<Row[]>>>();

function readBearer(sql: Sql, key: string) {
  const load = () => batches(sql).read.load({ models: bearerModels, id: key });
  const scope = requestScope.getStore();
  if (!scope) return load();
  let reads = bearerReads.get(scope);
  if (!reads) bearerReads.set(scope, (reads = new Map()));
  let rows = reads.get(key);
  if (!rows) reads.set(key, (rows = load()));
  return rows;
}

function forgetBearer(key?: string) {
  const scope = requestScope.getStore();
  if (!scope) return;
  if (key === undefined) bearerReads.delete(scope);
  else bearerReads.get(scope)?.delete(key);
}

const withoutCookie = ({ cookie: _cookie, ...session }: NonNullable<AdapterPayload['session']>) => session;

/**
 * A code or token whose redemption lost the race to a concurrent one: a replay, found here
 * rather than by oidc-provider, which had read it unconsumed. `model` is the one consumed
 * (`AuthorizationCode`, `RefreshToken`, ...); provider/events.ts audits it.
 */
export class RedeemedTwice extends errors.InvalidGrant {
  readonly model: string;

  constructor(model: string) {
    super(`${model} already consumed`);
    this.model = model;
  }
}

export interface AdapterHooks {
  /** Every token issued under the grant is revoked (the grant's JWTs are out of storage's reach). */
  onGrantRevoked?: (grantId: string) => Promise<void>;
}

export function createPayloadAdapter(db: Database, model: string, now: () => number = Date.now, { onGrantRevoked }: AdapterHooks = {}): Adapter {
  const sql = sqlOf(db);
  const bearer = bearerModels.includes(model);
  const live = (rows: Row[], id: string | undefined): AdapterPayload | undefined => {
    const row = rows[0];
    if (!row || (row.expires_at && Date.parse(row.expires_at) <= now())) return undefined;
    const payload = JSON.parse(row.payload) as AdapterPayload;
    if (id !== undefined) payload.jti = id;
    if (row.consumed_at) payload.consumed = Math.floor(Date.parse(row.consumed_at) / 1000);
    return payload;
  };

  return {
    async upsert(id, payload, expiresIn) {
      const key = digest(id);
      if (bearer) forgetBearer(key);
      const { jti: _jti, ...rest } = payload;
      // An interaction names the browser's session; oidc-provider copies the session's id, the
      // `_session` cookie's value, beside its uid, and reads neither back from the interaction.
      if (model === 'Interaction' && rest.session?.cookie) rest.session = withoutCookie(rest.session);
      const expiresAt = expiresIn ? new Date(now() + expiresIn * 1000).toISOString() : null;
      const userCode = payload.userCode ? digest(payload.userCode) : null;
      if (payload.userCode) delete rest.userCode;
      const json = JSON.stringify(rest);
      // PostgreSQL cannot store NUL in jsonb; a request that carries one (a state, a nonce) is malformed.
      if (json.includes('\\u0000')) throw new errors.InvalidRequest('request parameters must not contain NUL characters');
      await batches(sql).upsert.load({
        model,
        id: key,
        payload: json,
        grantId: payload.grantId ?? null,
        userCode,
        uid: payload.uid ?? null,
        accountId: payload.accountId ?? null,
        expiresAt,
      });
    },

    async find(id) {
      const key = digest(id);
      if (bearer)
        return live(
          (await readBearer(sql, key)).filter((row) => row.model === model),
          id,
        );
      return live(await batches(sql).read.load({ models: [model], id: key }), id);
    },

    async findByUserCode(userCode) {
      const rows = await sql.rows<Row>(`${selectRow} WHERE model = $1 AND user_code = $2 LIMIT 1`, [model, digest(userCode)]);
      const payload = live(rows, undefined);
      if (payload) payload.userCode = userCode;
      return payload;
    },

    async findByUid(uid) {
      return live(await batches(sql).readByUid.load({ model, uid }), undefined);
    },

    async consume(id) {
      const key = digest(id);
      if (bearer) forgetBearer(key);
      // Exactly one of several concurrent redemptions may win: the update only matches an
      // unconsumed row, and whoever matches nothing lost the race and is treated as a replay.
      const rows = await sql.rows<{ grant_id: string | null }>(
        'UPDATE oidc_payloads SET consumed_at = now() WHERE model = $1 AND id = $2 AND consumed_at IS NULL RETURNING grant_id',
        [model, key],
      );
      if (rows.length === 0) {
        const [row] = await sql.rows<{ grant_id: string | null }>('SELECT grant_id FROM oidc_payloads WHERE model = $1 AND id = $2', [model, key]);
        if (row?.grant_id) await Promise.all([revokeGrant(sql, row.grant_id), onGrantRevoked?.(row.grant_id)]);
        throw new RedeemedTwice(model);
      }
    },

    async destroy(id) {
      const key = digest(id);
      if (bearer) forgetBearer(key);
      await batches(sql).destroy.load({ model, id: key });
    },

    async revokeByGrantId(grantId) {
      if (bearer) forgetBearer();
      // oidc-provider revokes a grant model by model, AccessToken always among them.
      await Promise.all([sql.execute(statements.revokeByGrantId, [model, grantId]), model === 'AccessToken' && onGrantRevoked?.(grantId)]);
    },
  };
}

/** A replayed code or token: everything issued under its grant goes, and the grant with it. */
async function revokeGrant(sql: Sql, grantId: string): Promise<void> {
  forgetBearer();
  await sql.execute(`DELETE FROM oidc_payloads WHERE grant_id = $1 OR (model = 'Grant' AND id = $2)`, [grantId, digest(grantId)]);
}

/** Deletes expired rows; returns how many. Run on an interval by the server. */
export async function sweepExpired(db: Database): Promise<number> {
  return db.$executeRaw`DELETE FROM oidc_payloads WHERE expires_at < now()`;
}
