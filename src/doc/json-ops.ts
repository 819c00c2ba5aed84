/**
 * JSON operations for clients without a CRDT library: a small op list that
 * the engines turn into a real edit (a Yjs transaction or an Automerge
 * change; see yjs-json-ops.ts and automerge-json-ops.ts), so the result
 * replicates like any other delta.
 *
 *   { "ops": [
 *     { "op": "set",        "path": ["meta", "title"], "value": "Hello" },
 *     { "op": "delete",     "path": ["meta", "draft"] },
 *     { "op": "insertText", "path": ["body"], "index": 0, "text": "hi" },
 *     { "op": "deleteText", "path": ["body"], "index": 0, "length": 2 },
 *     { "op": "push",       "path": ["items"], "value": 1 },
 *     { "op": "increment",  "path": ["stats", "views"], "by": 1 } ] }
 *
 * Paths name map keys from the root. Containers an op needs and the document
 * lacks (maps on the path, the list of a push, the text of insertText, the
 * counter of increment) are created deterministically: every region creating
 * "the map under meta.sub" makes the very same object, so concurrent first
 * writes merge instead of competing (see container-ids.ts).
 */
import { ConcordError } from "../errors.ts";
import { jsonDepth } from "./json-depth.ts";

export type JsonOp =
  | { op: "set"; path: string[]; value: unknown }
  /** Internal (initial shapes): make sure a container exists at `path`, created deterministically. */
  | { op: "ensure"; path: string[]; container: ContainerType }
  | { op: "delete"; path: string[] }
  | { op: "insertText"; path: string[]; index: number; text: string }
  | { op: "deleteText"; path: string[]; index: number; length: number }
  | { op: "push"; path: string[]; value: unknown }
  | { op: "increment"; path: string[]; by: number };

/** Bound on ops per request and path depth: a PATCH is a small edit, not a bulk import. */
/** What an op may need to exist under a key: created deterministically when missing. */
export type ContainerType = "map" | "list" | "text" | "counter";

export const jsonOpsLimits = { maxOps: 1000, maxPathLength: 32 } as const;

/** An op that does not fit the document or the request: ConcordError("invalid_argument"). */
export const badOp = (message: string): ConcordError => new ConcordError("invalid_argument", message);
const bad = badOp;

/**
 * Checks the shape of a PATCH body and returns its ops. Throws
 * ConcordError("invalid_argument") naming the first bad field.
 */
export function parseJsonOps(body: unknown): JsonOp[] {
  const ops = (body as { ops?: unknown } | null)?.ops;
  if (!Array.isArray(ops) || ops.length === 0) throw bad('the body must be { "ops": [ ... ] } with at least one op');
  if (ops.length > jsonOpsLimits.maxOps) throw bad(`at most ${jsonOpsLimits.maxOps} ops per request`);
  return ops.map((raw: unknown, i) => checkOp(raw, `ops[${i}]`));
}

function checkOp(raw: unknown, at: string): JsonOp {
  if (typeof raw !== "object" || raw === null) throw bad(`${at} must be an object`);
  const o = raw as Record<string, unknown>;
  const path = o.path;
  if (!Array.isArray(path) || path.length === 0 || path.length > jsonOpsLimits.maxPathLength || !path.every((p) => typeof p === "string" && p !== "")) {
    throw bad(`${at}.path must be 1..${jsonOpsLimits.maxPathLength} non-empty strings`);
  }
  const index = (field: string) => {
    const v = o[field];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw bad(`${at}.${field} must be a non-negative integer`);
    return v;
  };
  const value = () => {
    if (!("value" in o) || o.value === undefined) throw bad(`${at}.value is required`);
    return o.value;
  };
  switch (o.op) {
    case "set":
      return { op: "set", path, value: value() };
    case "delete":
      return { op: "delete", path };
    case "insertText":
      if (typeof o.text !== "string") throw bad(`${at}.text must be a string`);
      return { op: "insertText", path, index: index("index"), text: o.text };
    case "deleteText":
      return { op: "deleteText", path, index: index("index"), length: index("length") };
    case "push":
      return { op: "push", path, value: value() };
    case "increment": {
      const by = o.by ?? 1;
      if (typeof by !== "number" || !Number.isSafeInteger(by)) throw bad(`${at}.by must be an integer`);
      return { op: "increment", path, by };
    }
    default:
      throw bad(`${at}.op must be one of set, delete, insertText, deleteText, push, increment`);
  }
}

/** Depth and work budget of one request's ops (below), checked before the engine sees them. */
export function checkOpLimits(ops: readonly JsonOp[], limits: { maxDepth: number; maxOpsPerDelta: number }): void {
  checkOpDepths(ops, limits.maxDepth);
  checkOpBudget(ops, limits.maxOpsPerDelta);
}

/**
 * The work budget of one request: ops, plus the characters and value nodes
 * they write (an Automerge text stores one op per character). Throws
 * ConcordError("too_large", reason "too_many_ops") past `maxOps`, before the
 * engine sees anything. Returns the work counted.
 */
export function checkOpBudget(ops: readonly JsonOp[], maxOps: number): number {
  let work = 0;
  for (const op of ops) {
    work += 1;
    if (op.op === "insertText") work += op.text.length;
    else if (op.op === "set" || op.op === "push") work += valueWeight(op.value, maxOps - work);
    if (work > maxOps) {
      throw new ConcordError("too_large", `the ops write more than ${maxOps} items (characters and values count); split the request`, {
        details: { reason: "too_many_ops", maxOps },
      });
    }
  }
  return work;
}

/** Nodes and characters of a JSON value, counted up to `budget` (no recursion: depth is checked separately). */
function valueWeight(value: unknown, budget: number): number {
  let weight = 0;
  const stack = [value];
  while (stack.length > 0 && weight <= budget) {
    const next = stack.pop();
    weight += 1;
    if (typeof next === "string") weight += next.length;
    else if (Array.isArray(next)) stack.push(...next);
    else if (typeof next === "object" && next !== null) stack.push(...Object.values(next));
  }
  return weight;
}

/**
 * Refuses op values that would nest deeper than `maxDepth` where they land
 * (the containers on the path count, as for binary deltas: see
 * EngineLimits.maxDepth). Checked before the engine sees the value: a deep
 * value overflows Yjs's encoder after it is in the live document, and traps
 * Automerge's wasm module for every document of the region.
 */
export function checkOpDepths(ops: readonly JsonOp[], maxDepth: number): void {
  for (const [i, op] of ops.entries()) {
    if (op.op !== "set" && op.op !== "push") continue;
    // A set lands in the object holding its last key; a push inside the list its path names.
    const above = op.op === "set" ? op.path.length - 1 : op.path.length;
    const room = maxDepth - above;
    if (jsonDepth(op.value, Math.max(room, 0)) > room) {
      throw new ConcordError("invalid_argument", `ops[${i}].value nests deeper than ${maxDepth} levels (counting the path)`, { details: { reason: "too_deep" } });
    }
  }
}
