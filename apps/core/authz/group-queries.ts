import { unlessTaken, type Database } from '../db/database.ts';

export interface GroupRow {
  id: string;
  name: string;
  createdAt: Date;
}

export interface GroupListing extends GroupRow {
  /** Member user ids, oldest membership first. */
  members: string[];
  /** Roles the group holds, as `<API identifier>#<role name>`. */
  roles: string[];
}

/** Groups and their members; plain objects in and out. */
export function createGroupQueries(db: Database) {
  return {
    find: (name: string): Promise<GroupRow | null> => db.group.findUnique({ where: { name } }),

    /** Creates the group; undefined when the name is taken. */
    create: (name: string): Promise<GroupRow | undefined> => unlessTaken(db.group.create({ data: { name } })),

    async list(): Promise<GroupListing[]> {
      const rows = await db.group.findMany({
        orderBy: { name: 'asc' },
        include: {
          members: { select: { userId: true }, orderBy: { createdAt: 'asc' } },
          roles: { select: { role: { select: { name: true, api: { select: { identifier: true } } } } } },
        },
      });
      return rows.map(({ members, roles, ...group }) => ({
        ...group,
        members: members.map((m) => m.userId),
        roles: roles.map(({ role }) => `${role.api.identifier}#${role.name}`).sort(),
      }));
    },

    /** Adds the user; false when they already were a member. */
    async addMember(groupId: string, userId: string): Promise<boolean> {
      const { count } = await db.groupMember.createMany({ data: [{ groupId, userId }], skipDuplicates: true });
      return count > 0;
    },

    /** Removes the user; false when they were not a member. */
    async removeMember(groupId: string, userId: string): Promise<boolean> {
      const { count } = await db.groupMember.deleteMany({ where: { groupId, userId } });
      return count > 0;
    },
  };
}

export type GroupQueries = ReturnType<typeof createGroupQueries>;
