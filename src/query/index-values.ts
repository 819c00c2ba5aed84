/**
 * Value extraction: what each index holds for a document, read from its
 * canonical JSON view (DocEngine.toJSON). A path that is missing, or holds a
 * value of another type than the index's, gives no entry: the document is not
 * in that index, and no query on it matches the document.
 */
import type { IndexDefinition, IndexValue } from "./index-definition.ts";
import { isIndexValue } from "./index-definition.ts";
import { maxOrderStringBytes } from "./order-encoding.ts";

const encoder = new TextEncoder();

/** Index name → value, for the indexes that hold the document. */
export type IndexedValues = Record<string, IndexValue>;

/** The value at a dot path of a JSON view, or undefined. Own properties only (no prototype walk). */
export function valueAtPath(json: unknown, path: string): unknown {
  let at: unknown = json;
  for (const key of path.split(".")) {
    if (typeof at !== "object" || at === null || Array.isArray(at)) return undefined;
    if (!Object.prototype.hasOwnProperty.call(at, key)) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

/** What each of `defs` holds for a document whose JSON view is `json`. */
export function extractValues(defs: readonly IndexDefinition[], json: unknown): IndexedValues {
  const out: IndexedValues = Object.create(null) as IndexedValues;
  for (const def of defs) {
    const value = valueAtPath(json, def.path);
    if (!isIndexValue(def.type, value)) continue;
    // Order keys are bounded: a longer string is not in an order index (see order-encoding.ts).
    if (def.kind === "order" && typeof value === "string" && encoder.encode(value).length > maxOrderStringBytes) continue;
    out[def.name] = Object.is(value, -0) ? 0 : value;
  }
  return out;
}
