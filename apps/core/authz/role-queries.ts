import { unlessTaken, type Database } from '../db/database.ts';

export interface RoleRow {
  id: string;
  api: string;
  name: string;
  scopes: string[];
  createdAt: Date;
}

export interface RoleListing extends RoleRow {
  users: string[];
  groups: string[];
  clients: string[];
}

/** Who a role is assigned to: exactly one of a user (id), a group (its id) or a client. */
export type Assignee = { userId: string } | { groupId: string } | { clientId: string };

const roleSelect = { id: true, name: true, scopes: true, createdAt: true, api: { select: { identifier: true } } } as const;
const toRow = ({ api, ...role }: { id: string; name: string; scopes: string[]; createdAt: Date; api: { identifier: string } }): RoleRow => ({
  ...role,
  api: api.identifier,
});

/** Roles per API and their assignments; plain objects in and out. */
export function createRoleQueries(db: Database) {
  return {
    async find(apiId: string, name: string): Promise<RoleRow | undefined> {
      const row = await db.role.findUnique({ where: { apiId_name: { apiId, name } }, select: roleSelect });
      return row ? toRow(row) : undefined;
    },

    /** Creates the role; undefined when the API already has one of that name. */
    async create(apiId: string, name: string, scopes: string[]): Promise<RoleRow | undefined> {
      const row = await unlessTaken(db.role.create({ data: { apiId, name, scopes }, select: roleSelect }));
      return row && toRow(row);
    },

    /** Deletes the role and every assignment of it. */
    delete: async (id: string) => (await db.role.deleteMany({ where: { id } })).count > 0,

    async list(apiId?: string): Promise<RoleListing[]> {
      const rows = await db.role.findMany({
        where: apiId ? { apiId } : {},
        orderBy: [{ api: { identifier: 'asc' } }, { name: 'asc' }],
        select: {
          ...roleSelect,
          users: { select: { userId: true }, orderBy: { createdAt: 'asc' } },
          groups: { select: { group: { select: { name: true } } }, orderBy: { createdAt: 'asc' } },
          clients: { select: { clientId: true }, orderBy: { createdAt: 'asc' } },
        },
      });
      return rows.map(({ users, groups, clients, ...role }) => ({
        ...toRow(role),
        users: users.map((u) => u.userId),
        groups: groups.map((g) => g.group.name),
        clients: clients.map((c) => c.clientId),
      }));
    },

    /** Assigns the role; false when it already was. */
    async assign(roleId: string, to: Assignee): Promise<boolean> {
      const created =
        'userId' in to
          ? await db.userRole.createMany({ data: [{ roleId, userId: to.userId }], skipDuplicates: true })
          : 'groupId' in to
            ? await db.groupRole.createMany({ data: [{ roleId, groupId: to.groupId }], skipDuplicates: true })
            : await db.clientRole.createMany({ data: [{ roleId, clientId: to.clientId }], skipDuplicates: true });
      return created.count > 0;
    },

    /** Takes the role back; false when it was not assigned. */
    async unassign(roleId: string, from: Assignee): Promise<boolean> {
      const deleted =
        'userId' in from
          ? await db.userRole.deleteMany({ where: { roleId, userId: from.userId } })
          : 'groupId' in from
            ? await db.groupRole.deleteMany({ where: { roleId, groupId: from.groupId } })
            : await db.clientRole.deleteMany({ where: { roleId, clientId: from.clientId } });
      return deleted.count > 0;
    },
  };
}

export type RoleQueries = ReturnType<typeof createRoleQueries>;
