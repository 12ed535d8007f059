import { z } from 'zod';
import { undefinedScopes, type ApiService } from '../apis/api-service.ts';
import type { AuditEvent, AuditLog } from '../audit/audit-log.ts';
import { AppError } from '../errors.ts';
import { parseInput } from '../validation.ts';
import type { Lookups } from './directory.ts';
import type { Assignee, RoleListing, RoleQueries, RoleRow } from './role-queries.ts';

const roleNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, 'expected 1 to 64 letters, digits or . _ : - starting with a letter or digit');
const scopeList = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => [...new Set((Array.isArray(v) ? v : v.split(' ')).map((s) => s.trim()).filter(Boolean))]);

const roleRefSchema = z.object({ api: z.string().min(1).max(2000), name: roleNameSchema });
export const createRoleBodySchema = roleRefSchema.extend({ scopes: scopeList.default([]) });
export const assignmentSchema = z
  .object({
    api: z.string().min(1).max(2000),
    role: roleNameSchema,
    user: z.string().min(1).optional(),
    group: z.string().min(1).optional(),
    client: z.string().min(1).optional(),
  })
  .refine((a) => [a.user, a.group, a.client].filter((t) => t !== undefined).length === 1, {
    message: 'name exactly one of a user, a group or a client',
    path: ['target'],
  });

export type CreateRoleBody = z.input<typeof createRoleBodySchema>;
export type AssignmentBody = z.input<typeof assignmentSchema>;

export interface Assignment {
  api: string;
  role: string;
  to: { user: string } | { group: string } | { client: string };
  changed: boolean;
}

/** Roles: per API, each a named set of scopes the API defines, assigned to users, groups and clients. */
export function createRoleService({
  roles,
  apis,
  find,
  audit,
  onChange = () => {},
}: {
  roles: RoleQueries;
  apis: Pick<ApiService, 'require'>;
  find: Lookups;
  audit?: AuditLog;
  onChange?: () => void;
}) {
  const record = (event: AuditEvent) => audit?.record(event) ?? Promise.resolve();

  async function requireRole(api: string, name: string): Promise<RoleRow> {
    const role = await roles.find((await apis.require(api)).id, name);
    if (!role) throw new AppError('role.not_found', `${api} has no role named ${name}`, { status: 404 });
    return role;
  }

  async function target(body: z.output<typeof assignmentSchema>): Promise<{ assignee: Assignee; to: Assignment['to']; event: Partial<AuditEvent> }> {
    if (body.user !== undefined) {
      const userId = await find.userId(body.user);
      return { assignee: { userId }, to: { user: userId }, event: { userId } };
    }
    if (body.group !== undefined) {
      const group = await find.group(body.group);
      return { assignee: { groupId: group.id }, to: { group: group.name }, event: { details: { group: group.name } } };
    }
    const clientId = await find.clientId(body.client!);
    return { assignee: { clientId }, to: { client: clientId }, event: { clientId } };
  }

  async function change(input: AssignmentBody, assign: boolean): Promise<Assignment> {
    const body = parseInput(assignmentSchema, input, 'role');
    const role = await requireRole(body.api, body.role);
    const { assignee, to, event } = await target(body);
    const changed = assign ? await roles.assign(role.id, assignee) : await roles.unassign(role.id, assignee);
    if (changed) {
      onChange();
      await record({ ...event, type: assign ? 'role.assigned' : 'role.unassigned', details: { ...event.details, api: role.api, role: role.name } });
    }
    return { api: role.api, role: role.name, to, changed };
  }

  return {
    async create(input: CreateRoleBody): Promise<RoleRow> {
      const body = parseInput(createRoleBodySchema, input, 'role');
      const api = await apis.require(body.api);
      // A typo must not make a role that quietly grants nothing.
      const problem = undefinedScopes(api, body.scopes);
      if (problem) throw new AppError('role.invalid_input', problem);
      const role = await roles.create(api.id, body.name, body.scopes);
      if (!role) throw new AppError('role.name_taken', `${api.identifier} already has a role named ${body.name}`, { status: 409 });
      await record({ type: 'role.created', details: { api: role.api, role: role.name, scopes: role.scopes } });
      return role;
    },

    async list(api?: string): Promise<RoleListing[]> {
      return roles.list(api === undefined ? undefined : (await apis.require(api)).id);
    },

    /** Deletes the role with every assignment of it. */
    async delete(input: { api: string; name: string }): Promise<RoleRow> {
      const body = parseInput(roleRefSchema, input, 'role');
      const role = await requireRole(body.api, body.name);
      await roles.delete(role.id);
      onChange();
      await record({ type: 'role.deleted', details: { api: role.api, role: role.name } });
      return role;
    },

    assign: (input: AssignmentBody) => change(input, true),
    unassign: (input: AssignmentBody) => change(input, false),
  };
}

export type RoleService = ReturnType<typeof createRoleService>;
