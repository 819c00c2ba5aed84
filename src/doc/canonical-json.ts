/**
 * Canonical JSON: one text for one value. Engines' JSON views go through here
 * so that replicas holding equal content print byte-identical JSON even when
 * their maps list keys in different orders.
 *
 * Conversions (documented because clients read them):
 * - object keys are sorted by UTF-16 code units (plain `<` on strings);
 * - `Uint8Array` becomes `{ "$bytes": "<base64>" }`;
 * - `Date` becomes its ISO-8601 string;
 * - `bigint` becomes a number when it is a safe integer, else its decimal string;
 * - non-finite numbers become `null` and `-0` becomes `0`, as in JSON.stringify;
 * - `undefined` becomes `null` in arrays and drops the key in objects.
 */
import { ConcordError } from "../errors.ts";
import { encodeBase64 } from "./base64.ts";

/** A value made only of JSON types. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

// Far above anything an engine's maxDepth lets through; only a guard against cycles.
const maxNesting = 1000;

/**
 * Sets `key` on a JSON object as an own data property. Plain assignment would
 * turn a key named "__proto__" into a prototype change and lose it.
 */
export function putKey(target: { [key: string]: JsonValue }, key: string, value: JsonValue): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Orders keys by UTF-16 code units, the same everywhere (no locale). */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A JSON-only copy of `value` with every object's keys inserted in sorted
 * order. Throws ConcordError("invalid_argument") for values nested deeper than
 * 1000 levels (or cyclic) and for functions or symbols.
 */
export function canonicalize(value: unknown): JsonValue {
  return toCanonical(value, 0) ?? null;
}

/** The canonical JSON text of `value` (see the file header for conversions). */
export function canonicalStringify(value: unknown): string {
  const parts: string[] = [];
  write(canonicalize(value), parts);
  return parts.join("");
}

function toCanonical(value: unknown, depth: number): JsonValue | undefined {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return Number.isFinite(value) ? (Object.is(value, -0) ? 0 : value) : null;
    case "bigint":
      return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
    case "undefined":
      return undefined;
    case "object":
      break;
    default:
      throw new ConcordError("invalid_argument", `cannot represent a ${typeof value} as JSON`);
  }
  if (value === null) return null;
  if (depth >= maxNesting) throw new ConcordError("invalid_argument", `value nests deeper than ${maxNesting} levels`);
  if (value instanceof Uint8Array) return { $bytes: encodeBase64(value) };
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (Array.isArray(value)) return value.map((item) => toCanonical(item, depth + 1) ?? null);
  const source = value as Record<string, unknown>;
  const out: { [key: string]: JsonValue } = {};
  for (const key of Object.keys(source).sort(compareKeys)) {
    const item = toCanonical(source[key], depth + 1);
    if (item !== undefined) putKey(out, key, item);
  }
  return out;
}

function write(value: JsonValue, parts: string[]): void {
  if (value === null || typeof value !== "object") {
    parts.push(JSON.stringify(value));
    return;
  }
  if (Array.isArray(value)) {
    parts.push("[");
    value.forEach((item, i) => {
      if (i > 0) parts.push(",");
      write(item, parts);
    });
    parts.push("]");
    return;
  }
  // Sort again: JS objects list integer-like keys first whatever the insertion order.
  parts.push("{");
  Object.keys(value)
    .sort(compareKeys)
    .forEach((key, i) => {
      if (i > 0) parts.push(",");
      parts.push(JSON.stringify(key), ":");
      write(value[key]!, parts);
    });
  parts.push("}");
}
