// `KEY=VALUE` options (`--attr`, `--resource-prop`, `--context`): how a value typed on a command
// line becomes JSON, the same way everywhere.
import { UsageError } from './output.ts';

/**
 * A value is taken as JSON when it parses as JSON other than null: `3` and `2.5` are numbers,
 * `true` and `false` booleans, `"3"` a string, `[...]` and `{...}` arrays and objects. Anything
 * else is the text as typed (`sales`, `01234`).
 */
export function typedValue(text: string): unknown {
  try {
    const value = JSON.parse(text);
    if (value !== null) return value;
  } catch {
    // not JSON: plain text
  }
  return text;
}

/** Parses `KEY=VALUE` (the value may be empty, and may hold `=`). */
export function keyValue(raw: string, flag: string): [string, unknown] {
  const at = raw.indexOf('=');
  if (at <= 0) throw new UsageError(`${flag}: expected KEY=VALUE`);
  return [raw.slice(0, at), typedValue(raw.slice(at + 1))];
}

/** Repeated `KEY=VALUE` options as one object; a key given twice keeps its last value. */
export const record = (pairs: unknown): Record<string, unknown> => Object.fromEntries((pairs as Array<[string, unknown]> | undefined) ?? []);
