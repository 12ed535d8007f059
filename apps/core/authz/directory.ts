import type { ApiService } from '../apis/api-service.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Database } from '../db/database.ts';
import { AppError, notFound } from '../errors.ts';
import { createAttributeQueries } from './attribute-queries.ts';
import { createAttributeService } from './attributes.ts';
import { createGroupQueries, type GroupQueries, type GroupRow } from './group-queries.ts';
import { createGroupService } from './groups.ts';
import { createRoleQueries } from './role-queries.ts';
import { createRoleService } from './roles.ts';
import { createSubjectQueries, type SubjectQueries } from './subject-queries.ts';

/** The lookups the directory's services share: each answers a missing thing with a 404 naming it. */
export function createLookups({ groups, subjects }: { groups: GroupQueries; subjects: SubjectQueries }) {
  return {
    async group(name: string): Promise<GroupRow> {
      const group = await groups.find(name);
      if (!group) throw new AppError('group.not_found', `no group named ${name}`, { status: 404 });
      return group;
    },
    /** A user by id or email address. */
    async userId(idOrEmail: string): Promise<string> {
      const id = await subjects.userIdOf(idOrEmail);
      if (!id) throw notFound('user', idOrEmail);
      return id;
    },
    async clientId(id: string): Promise<string> {
      if (!(await subjects.clientExists(id))) throw notFound('client', id);
      return id;
    },
  };
}

export type Lookups = ReturnType<typeof createLookups>;

/**
 * The policy information point's directory: groups, roles and their assignments, and users'
 * attributes. Every change is audited; `onChange` runs after each one, so this instance's
 * subject cache forgets at once (others within their cache's TTL).
 */
export function createDirectory({ db, apis, audit, onChange }: { db: Database; apis: Pick<ApiService, 'require'>; audit?: AuditLog; onChange?: () => void }) {
  const groups = createGroupQueries(db);
  const find = createLookups({ groups, subjects: createSubjectQueries(db) });
  return {
    groups: createGroupService({ groups, find, audit, onChange }),
    roles: createRoleService({ roles: createRoleQueries(db), apis, find, audit, onChange }),
    attributes: createAttributeService({ attributes: createAttributeQueries(db), find, audit, onChange }),
  };
}

export type Directory = ReturnType<typeof createDirectory>;
