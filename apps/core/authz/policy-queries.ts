import { sqlOf, type Database } from '../db/database.ts';

export interface PolicyVersionRow {
  version: number;
  text: string;
  policyIds: string[];
  restoredFrom: number | null;
  actor: string | null;
  createdAt: Date;
}

export type PolicyVersionSummary = Omit<PolicyVersionRow, 'text'>;

const summary = { version: true, policyIds: true, restoredFrom: true, actor: true, createdAt: true } as const;

/** Stored policy versions; the highest is live. Plain objects in and out. */
export function createPolicyQueries(db: Database) {
  const sql = sqlOf(db);
  return {
    /** Stores a new version in one statement: it is live once committed, or not at all. */
    insert: (row: Omit<PolicyVersionRow, 'version' | 'createdAt'>): Promise<PolicyVersionRow> => db.policyVersion.create({ data: row }),

    find: async (version: number): Promise<PolicyVersionRow | undefined> => (await db.policyVersion.findUnique({ where: { version } })) ?? undefined,

    latest: async (): Promise<PolicyVersionRow | undefined> => (await db.policyVersion.findFirst({ orderBy: { version: 'desc' } })) ?? undefined,

    list: (): Promise<PolicyVersionSummary[]> => db.policyVersion.findMany({ orderBy: { version: 'asc' }, select: summary }),

    /** The live version's number: what every instance polls, so it is one cheap statement. */
    async currentVersion(): Promise<number | undefined> {
      const [row] = await sql.rows<{ version: number | null }>('SELECT max(version) AS version FROM policy_versions', []);
      return row?.version ?? undefined;
    },
  };
}

export type PolicyQueries = ReturnType<typeof createPolicyQueries>;
