import type { CedarRequest, CedarValueJson, EntityJson, EntityUidJson } from './cedar-engine.ts';
import { InvalidValue, isEntityTypeName, principalTypes, toCedarRecord } from './cedar-values.ts';
import type { Subject } from './subject-reader.ts';

/** An AuthZEN access evaluation request (subject, action, resource, context), as sent. */
export interface EvaluationRequest {
  subject: { type: string; id: string; properties?: Record<string, unknown> };
  action: { name: string; properties?: Record<string, unknown> };
  resource: { type: string; id: string; properties?: Record<string, unknown> };
  context?: Record<string, unknown>;
}

interface PrincipalParts {
  uid: EntityUidJson;
  attrs: Record<string, CedarValueJson>;
  parents: EntityUidJson[];
}

const roleUid = (api: string, name: string): EntityUidJson => ({ type: 'Role', id: `${api}#${name}` });

// What a subject contributes is the same for every decision while the reader serves the same
// object, so it is built once per subject per cache window.
const built = new WeakMap<Subject, PrincipalParts>();

function principalOf(subject: Subject): PrincipalParts {
  const known = built.get(subject);
  if (known) return known;
  const attributes: Record<string, CedarValueJson> = {};
  for (const [key, value] of Object.entries(subject.attributes)) {
    try {
      Object.assign(attributes, toCedarRecord({ [key]: value }, 'attributes'));
    } catch {
      // Stored attributes are checked on the way in; one Cedar cannot hold is left out, not fatal.
    }
  }
  const parts: PrincipalParts = {
    uid: { type: principalTypes[subject.type], id: subject.id },
    attrs: {
      ...(subject.email !== undefined && { email: subject.email }),
      ...(subject.name !== undefined && { name: subject.name }),
      attributes,
    },
    // Every role, direct or through a group, is a parent of the principal itself: then
    // `principal in Role::...` holds without Group entities in the request, each of which Cedar
    // would parse on every decision. (So `Group::"g" in Role::"r"` is not known to policies.)
    parents: [...subject.groups.map((id) => ({ type: 'Group', id })), ...subject.roles.map((role) => roleUid(role.api, role.name))],
  };
  built.set(subject, parts);
  return parts;
}

const sameUid = (a: EntityUidJson, b: EntityUidJson) =>
  (a as { type: string }).type === (b as { type: string }).type && (a as { id: string }).id === (b as { id: string }).id;

/**
 * The Cedar request for an evaluation: the principal with its groups and roles as parents and
 * `email`, `name`, `attributes` and `properties` as attributes; `Action::"<name>"`; the resource
 * as `<type>::"<id>"` with its properties; the context with `now` (seconds since the epoch,
 * Gatehouse's clock, whatever the caller sent). Throws InvalidValue for what Cedar cannot take.
 */
export function cedarRequest(subject: Subject, request: EvaluationRequest, nowSeconds: number): CedarRequest {
  const { action, resource } = request;
  if (!isEntityTypeName(resource.type))
    throw new InvalidValue(
      'resource.type',
      `${JSON.stringify(resource.type)} is not a Cedar entity type name (letters, digits and _, not starting with a digit; namespaces joined by ::)`,
    );
  const principal = principalOf(subject);
  const entities: EntityJson[] = [
    {
      uid: principal.uid,
      attrs: { ...principal.attrs, properties: toCedarRecord(request.subject.properties, 'subject.properties') },
      parents: principal.parents,
    },
  ];
  const actionUid = { type: 'Action', id: action.name };
  if (action.properties && Object.keys(action.properties).length)
    entities.push({ uid: actionUid, attrs: toCedarRecord(action.properties, 'action.properties'), parents: [] });

  const resourceUid = { type: resource.type, id: resource.id };
  const resourceAttrs = toCedarRecord(resource.properties, 'resource.properties');
  // A resource that is the principal (or the action) gets the properties sent for it, under what
  // Gatehouse knows.
  const same = entities.findIndex((entity) => sameUid(entity.uid, resourceUid));
  if (same >= 0) entities[same] = { ...entities[same], attrs: { ...resourceAttrs, ...entities[same].attrs } };
  else entities.push({ uid: resourceUid, attrs: resourceAttrs, parents: [] });

  return {
    principal: principal.uid,
    action: actionUid,
    resource: resourceUid,
    context: { ...toCedarRecord(request.context, 'context'), now: nowSeconds },
    entities,
  };
}
