import { sqlOf, type Database } from '../db/database.ts';
import { isStorable, isUuid, normalizeEmail } from '../validation.ts';

/** A role a subject holds on an API: directly, and/or through the groups named. */
export interface HeldRole {
  api: string;
  name: string;
  /** The role's scopes that the API still defines. */
  scopes: string[];
  direct: boolean;
  groups: string[];
}

export interface SubjectRecord {
  email?: string;
  name?: string;
  disabled: boolean;
  attributes: Record<string, unknown>;
  groups: string[];
  roles: HeldRole[];
}

type RawRole = Omit<HeldRole, 'scopes'> & { scopes: string[] | null; apiScopes: string[] | null };
type Raw = Omit<SubjectRecord, 'roles' | 'email' | 'name'> & { email?: string | null; name?: string | null; roles: RawRole[] };

const roleJson = (direct: string, groups: string) =>
  `json_build_object('api', a.identifier, 'apiScopes', a.scopes, 'name', r.name, 'scopes', r.scopes, 'direct', ${direct}, 'groups', ${groups}) ORDER BY a.identifier, r.name`;

// One statement per subject: the reader caches what it returns for a few seconds.
const userStatement = `
  SELECT json_build_object(
    'email', u.email, 'name', u.name, 'disabled', u.disabled,
    'attributes', COALESCE((SELECT ua.attributes FROM user_attributes ua WHERE ua.user_id = u.id), '{}'::jsonb),
    'groups', COALESCE((SELECT json_agg(g.name ORDER BY g.name) FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = u.id), '[]'::json),
    'roles', COALESCE((
      SELECT json_agg(${roleJson(
        'EXISTS (SELECT 1 FROM user_roles ur WHERE ur.role_id = r.id AND ur.user_id = u.id)',
        `COALESCE((SELECT json_agg(g.name ORDER BY g.name) FROM group_roles gr JOIN group_members m ON m.group_id = gr.group_id JOIN groups g ON g.id = gr.group_id WHERE gr.role_id = r.id AND m.user_id = u.id), '[]'::json)`,
      )})
      FROM roles r JOIN apis a ON a.id = r.api_id
      WHERE r.id IN (SELECT ur.role_id FROM user_roles ur WHERE ur.user_id = u.id
                     UNION SELECT gr.role_id FROM group_roles gr JOIN group_members m ON m.group_id = gr.group_id WHERE m.user_id = u.id)
    ), '[]'::json)
  )::text AS subject
  FROM users u WHERE u.id = $1::uuid`;

const clientStatement = `
  SELECT json_build_object(
    'name', c.name, 'disabled', false, 'attributes', '{}'::json, 'groups', '[]'::json,
    'roles', COALESCE((
      SELECT json_agg(${roleJson('true', `'[]'::json`)})
      FROM client_roles cr JOIN roles r ON r.id = cr.role_id JOIN apis a ON a.id = r.api_id WHERE cr.client_id = c.id
    ), '[]'::json)
  )::text AS subject
  FROM clients c WHERE c.id = $1`;

function toRecord(raw: Raw): SubjectRecord {
  return {
    ...raw,
    email: raw.email ?? undefined,
    name: raw.name ?? undefined,
    roles: raw.roles.map(({ apiScopes, scopes, ...role }) => ({ ...role, scopes: (scopes ?? []).filter((s) => (apiScopes ?? []).includes(s)) })),
  };
}

/** What the policy information point knows of a user or a client, and the lookups the directory makes. */
export function createSubjectQueries(db: Database) {
  const sql = sqlOf(db);
  const read = async (statement: string, id: string) => {
    const [row] = await sql.rows<{ subject: string }>(statement, [id]);
    return row ? toRecord(JSON.parse(row.subject) as Raw) : undefined;
  };
  return {
    user: async (id: string) => (isUuid(id) ? read(userStatement, id) : undefined),
    client: async (id: string) => (isStorable(id) ? read(clientStatement, id) : undefined),

    /** A user's id from their id or their email address. */
    async userIdOf(idOrEmail: string): Promise<string | undefined> {
      const where = isUuid(idOrEmail) ? { id: idOrEmail.toLowerCase() } : { email: normalizeEmail(idOrEmail) };
      return (await db.user.findFirst({ where, select: { id: true } }))?.id;
    },

    clientExists: async (id: string) => (await db.client.count({ where: { id } })) > 0,
  };
}

export type SubjectQueries = ReturnType<typeof createSubjectQueries>;
