import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.ts';
import { AppError } from '../errors.ts';
import { parseInput } from '../validation.ts';
import type { Lookups } from './directory.ts';
import type { GroupListing, GroupQueries, GroupRow } from './group-queries.ts';

export const groupNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,99}$/, 'expected 1 to 100 letters, digits or . _ : @ / - starting with a letter or digit');

const membershipSchema = z.object({ group: groupNameSchema, user: z.string().trim().min(1).max(320) });

/** Groups of users. Adding or removing a member twice changes nothing the second time, and says so. */
export function createGroupService({
  groups,
  find,
  audit,
  onChange = () => {},
}: {
  groups: GroupQueries;
  find: Lookups;
  audit?: AuditLog;
  onChange?: () => void;
}) {
  const record: AuditLog['record'] = (event) => audit?.record(event) ?? Promise.resolve();

  async function membership(input: { group: string; user: string }) {
    const body = parseInput(membershipSchema, input, 'group');
    return { group: await find.group(body.group), userId: await find.userId(body.user) };
  }

  return {
    async create(name: string): Promise<GroupRow> {
      const valid = parseInput(z.object({ name: groupNameSchema }), { name }, 'group').name;
      const group = await groups.create(valid);
      if (!group) throw new AppError('group.name_taken', `a group named ${valid} already exists`, { status: 409 });
      await record({ type: 'group.created', details: { group: group.name } });
      return group;
    },

    list: (): Promise<GroupListing[]> => groups.list(),

    async addMember(input: { group: string; user: string }): Promise<{ group: string; userId: string; changed: boolean }> {
      const { group, userId } = await membership(input);
      const changed = await groups.addMember(group.id, userId);
      if (changed) {
        onChange();
        await record({ type: 'group.member_added', userId, details: { group: group.name } });
      }
      return { group: group.name, userId, changed };
    },

    async removeMember(input: { group: string; user: string }): Promise<{ group: string; userId: string; changed: boolean }> {
      const { group, userId } = await membership(input);
      const changed = await groups.removeMember(group.id, userId);
      if (changed) {
        onChange();
        await record({ type: 'group.member_removed', userId, details: { group: group.name } });
      }
      return { group: group.name, userId, changed };
    },
  };
}

export type GroupService = ReturnType<typeof createGroupService>;
