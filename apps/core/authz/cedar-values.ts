import type { CedarValueJson } from './cedar-engine.ts';

/** A value Cedar cannot hold, or a name it cannot parse; `path` says where (`resource.properties.price`). */
export class InvalidValue extends Error {
  readonly path: string;

  constructor(path: string, problem: string) {
    super(`${path}: ${problem}`);
    this.name = 'InvalidValue';
    this.path = path;
  }
}

// Cedar's reserved words, which no part of an entity type name may be.
const reserved = new Set(['true', 'false', 'if', 'then', 'else', 'in', 'is', 'like', 'has']);
const identifier = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A Cedar entity type name: identifiers joined by `::` (`order`, `Orders::Order`), none reserved. */
export function isEntityTypeName(name: unknown): name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 256) return false;
  return name.split('::').every((part) => identifier.test(part) && !reserved.has(part) && !part.startsWith('__'));
}

/** The Cedar types of AuthZEN's subject types: `user` is `User::"<sub>"`, `client` is `Client::"<client_id>"`. */
export const principalTypes: Readonly<Record<string, string>> = { user: 'User', client: 'Client' };

/**
 * An entity reference sent as `{"type": T, "id": I}`. AuthZEN names subjects by their lower-case
 * type, so `user` and `client` name the principal types and `resource.owner == principal` holds
 * when the owner is sent the way the subject was.
 */
function entityReference(value: { type: string; id: string }, path: string): CedarValueJson {
  const type = Object.hasOwn(principalTypes, value.type) ? principalTypes[value.type] : value.type;
  if (!isEntityTypeName(type)) throw new InvalidValue(`${path}.type`, `${JSON.stringify(value.type)} is not a Cedar entity type name`);
  return { __entity: { type, id: value.id } };
}

const isReference = (value: object): value is { type: string; id: string } => {
  const keys = Object.keys(value);
  return keys.length === 2 && typeof (value as { type?: unknown }).type === 'string' && typeof (value as { id?: unknown }).id === 'string';
};

const MAX_DEPTH = 16;
// Cedar's decimal: four places, within a signed 64-bit integer of ten-thousandths.
const decimalText = /^-?\d{1,15}(\.\d{1,4})?$/;

function number(value: number, path: string): CedarValueJson {
  if (Number.isSafeInteger(value)) return value;
  const text = String(value);
  if (Number.isFinite(value) && decimalText.test(text) && Math.abs(value) < 922_337_203_685_477) {
    return { __extn: { fn: 'decimal', arg: text.includes('.') ? text : `${text}.0` } };
  }
  throw new InvalidValue(path, 'Cedar holds whole numbers up to 2^53 and decimals with at most 4 places');
}

/**
 * JSON as Cedar holds it: numbers become Longs (or `decimal`s when fractional), arrays sets,
 * objects records, `{"type", "id"}` objects entity references. A `null` in an object leaves the
 * key out (Cedar has no null, so `has` is false). Keys starting with `__` are refused: Cedar
 * would read `__entity` and `__extn` as escapes, not as what the caller sent.
 */
export function toCedarValue(value: unknown, path: string, depth = 0): CedarValueJson {
  if (depth > MAX_DEPTH) throw new InvalidValue(path, `nested deeper than ${MAX_DEPTH} levels`);
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return number(value, path);
    case 'object':
      if (value === null) throw new InvalidValue(path, 'null is not a Cedar value');
      if (Array.isArray(value)) return value.map((item, i) => toCedarValue(item, `${path}.${i}`, depth + 1));
      if (isReference(value)) return entityReference(value, path);
      return toCedarRecord(value, path, depth);
    default:
      throw new InvalidValue(path, `${typeof value} is not a Cedar value`);
  }
}

/** An object's entries as a Cedar record (see toCedarValue). */
export function toCedarRecord(value: unknown, path: string, depth = 0): Record<string, CedarValueJson> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidValue(path, 'expected an object');
  const record: Record<string, CedarValueJson> = {};
  for (const [key, item] of Object.entries(value)) {
    if (key.startsWith('__')) throw new InvalidValue(`${path}.${key}`, 'keys starting with __ are reserved by Cedar');
    if (item === null || item === undefined) continue;
    record[key] = toCedarValue(item, `${path}.${key}`, depth + 1);
  }
  return record;
}
