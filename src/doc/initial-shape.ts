/**
 * Initial shapes: `create(id, kind, { init: { items: [], meta: { title: "" } } })`.
 * A shape becomes a list of JSON ops (every container an `ensure`, so it is
 * the same object the ops would create implicitly), which the engine applies
 * with a writer derived from the document id and the shape. Every region
 * creating the document with the same shape thus makes the same change, and
 * concurrent creations merge.
 *
 * Automerge holds maps, lists and texts at any depth. Yjs holds them as root
 * types only: a top-level object is a root map (nested objects become nested
 * maps), a top-level array a root array, a top-level string a root text;
 * nested arrays and strings are stored as plain JSON values, and a top-level
 * scalar is refused.
 */
import { canonicalize, canonicalStringify, type JsonValue } from "./canonical-json.ts";
import { badOp as bad, jsonOpsLimits, type JsonOp } from "./json-ops.ts";

export type InitialShape = { [key: string]: JsonValue };

/** Largest shape accepted, as canonical JSON text: a shape is a skeleton, not an import. */
export const maxInitialShapeBytes = 64 * 1024;

/** Checks that `init` is a JSON object within limits; returns its canonical copy. */
export function parseInitialShape(init: unknown): InitialShape {
  if (typeof init !== "object" || init === null || Array.isArray(init)) throw bad('"init" must be a JSON object, e.g. {"items": [], "meta": {}}');
  const shape = canonicalize(init) as InitialShape;
  if (canonicalStringify(shape).length > maxInitialShapeBytes) throw bad(`"init" is larger than ${maxInitialShapeBytes} bytes of JSON`);
  return shape;
}

/** The text every region derives the shape's writer from. */
export const shapeKey = (shape: InitialShape): string => canonicalStringify(shape);

/** How an engine holds nested values: Automerge nests containers anywhere, Yjs only maps below the roots. */
export interface ShapeStyle {
  nestedListsAndTexts: boolean;
  topLevelScalars: boolean;
}

/** The ops that build `shape` on an empty document. */
export function initialShapeOps(shape: InitialShape, style: ShapeStyle): JsonOp[] {
  const ops: JsonOp[] = [];
  for (const [key, value] of Object.entries(shape)) addValue(ops, [key], value, style);
  return ops;
}

function addValue(ops: JsonOp[], path: string[], value: JsonValue, style: ShapeStyle): void {
  if (path.length > jsonOpsLimits.maxPathLength) throw bad(`"init" nests deeper than ${jsonOpsLimits.maxPathLength} levels`);
  const top = path.length === 1;
  if (key(path) === "") throw bad('"init" keys must be non-empty');
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    ops.push({ op: "ensure", path, container: "map" });
    for (const [key, member] of Object.entries(value)) addValue(ops, [...path, key], member, style);
  } else if (Array.isArray(value) && (top || style.nestedListsAndTexts)) {
    ops.push({ op: "ensure", path, container: "list" });
    for (const item of value) ops.push({ op: "push", path, value: item });
  } else if (typeof value === "string" && (top || style.nestedListsAndTexts)) {
    ops.push({ op: "ensure", path, container: "text" });
    if (value.length > 0) ops.push({ op: "insertText", path, index: 0, text: value });
  } else if (top && !style.topLevelScalars) {
    throw bad(`"init".${path[0]}: the top level of a Yjs document holds maps, lists and texts, not ${value === null ? "null" : typeof value}`);
  } else {
    ops.push({ op: "set", path, value });
  }
}

const key = (path: string[]): string => path.at(-1)!;
