/**
 * JSON operations for clients without a CRDT library: a small op list that
 * the server turns into a real engine edit (a Yjs transaction or an Automerge
 * change), so the result replicates like any other delta.
 *
 *   { "ops": [
 *     { "op": "set",        "path": ["meta", "title"], "value": "Hello" },
 *     { "op": "delete",     "path": ["meta", "draft"] },
 *     { "op": "insertText", "path": ["body"], "index": 0, "text": "hi" },
 *     { "op": "deleteText", "path": ["body"], "index": 0, "length": 2 },
 *     { "op": "push",       "path": ["items"], "value": 1 },
 *     { "op": "increment",  "path": ["stats", "views"], "by": 1 } ] }
 *
 * Paths name map keys from the root. In Yjs the first element names a root
 * type: a map for set/delete/increment (so those need at least two elements),
 * a text for insertText/deleteText, an array for push; deeper elements walk
 * nested maps. In Automerge the path walks the document's objects, creating
 * missing maps; increment uses an Automerge Counter and text ops use splice.
 * Yjs has no counter type: increment there writes the sum (concurrent
 * increments from two regions keep one of them, last writer wins).
 *
 * This is the one place outside the engines that branches on the kind.
 * Ops are validated in full before the edit touches the document: Yjs has no
 * rollback, so a bad op must be caught before the first mutation.
 */
import * as Automerge from "@automerge/automerge";
import * as Y from "yjs";
import { ConcordError } from "../errors.ts";
import type { DocKind } from "./engine.ts";

export type JsonOp =
  | { op: "set"; path: string[]; value: unknown }
  | { op: "delete"; path: string[] }
  | { op: "insertText"; path: string[]; index: number; text: string }
  | { op: "deleteText"; path: string[]; index: number; length: number }
  | { op: "push"; path: string[]; value: unknown }
  | { op: "increment"; path: string[]; by: number };

/** Bound on ops per request and path depth: a PATCH is a small edit, not a bulk import. */
export const jsonOpsLimits = { maxOps: 1000, maxPathLength: 32 } as const;

const bad = (message: string) => new ConcordError("invalid_argument", message);

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

/**
 * The edit callback for Replica.change() that applies `ops` to a document of
 * `kind`. The callback throws ConcordError("invalid_argument") before any
 * mutation when an op does not fit the document (e.g. insertText on a map).
 */
export function jsonOpsEdit(kind: DocKind, ops: JsonOp[]): (doc: any) => void {
  return kind === "yjs" ? (doc: Y.Doc) => yjsEdit(doc, ops) : (doc: Record<string, unknown>) => automergeEdit(doc, ops);
}

// ---- Yjs ----

type RootKind = "map" | "text" | "array";
const rootKindOf = (op: JsonOp): RootKind => (op.op === "insertText" || op.op === "deleteText" ? "text" : op.op === "push" ? "array" : "map");
const constructors = { map: Y.Map, text: Y.Text, array: Y.Array } as const;

function yjsEdit(doc: Y.Doc, ops: JsonOp[]): void {
  // Validate every op first: a root already used as another type, a too-short
  // path or an out-of-range index would otherwise fail half-way through.
  const planned = new Map<string, RootKind>();
  const textLengths = new Map<string, number>();
  for (const [i, op] of ops.entries()) {
    const name = op.path[0]!;
    const kind = rootKindOf(op);
    if (kind === "map" && op.path.length < 2) throw bad(`ops[${i}]: in a Yjs document ${op.op} needs [map, key, ...]: the first element names a root map`);
    if (kind !== "map" && op.path.length !== 1) throw bad(`ops[${i}]: in a Yjs document ${op.op} takes a one-element path naming a root ${kind}`);
    const existing = doc.share.get(name);
    const wanted = constructors[kind];
    // A root received over the wire but never accessed here is a plain AbstractType and can still become anything.
    if ((existing && existing.constructor !== Y.AbstractType && !(existing instanceof wanted)) || (planned.get(name) ?? kind) !== kind) {
      throw bad(`ops[${i}]: root "${name}" is not a ${kind} in this document`);
    }
    planned.set(name, kind);
    if (op.op === "insertText" || op.op === "deleteText") {
      const length = textLengths.get(name) ?? existing?._length ?? 0;
      const end = op.op === "insertText" ? op.index : op.index + op.length;
      if (end > length) throw bad(`ops[${i}]: index out of range (the text has ${length} characters)`);
      textLengths.set(name, op.op === "insertText" ? length + op.text.length : length - op.length);
    }
  }
  for (const [i, op] of ops.entries()) {
    const name = op.path[0]!;
    if (op.op === "insertText" || op.op === "deleteText") {
      const text = doc.getText(name);
      if (op.op === "insertText") text.insert(op.index, op.text);
      else text.delete(op.index, op.length);
      continue;
    }
    if (op.op === "push") {
      doc.getArray(name).push([op.value]);
      continue;
    }
    const map = yjsMapAt(doc.getMap(name), op.path.slice(1, -1), op.op !== "delete", i);
    const key = op.path.at(-1)!;
    if (!map) continue; // deleting under a missing map: nothing to delete
    if (op.op === "set") map.set(key, op.value);
    else if (op.op === "delete") map.delete(key);
    else {
      const current = map.get(key) ?? 0;
      if (typeof current !== "number") throw bad(`ops[${i}]: ${op.path.join(".")} is not a number`);
      map.set(key, current + op.by);
    }
  }
}

function yjsMapAt(root: Y.Map<unknown>, keys: string[], create: boolean, i: number): Y.Map<unknown> | undefined {
  let map = root;
  for (const key of keys) {
    const next = map.get(key);
    if (next instanceof Y.Map) map = next;
    else if (next === undefined && create) map = map.set(key, new Y.Map());
    else if (next === undefined) return undefined;
    else throw bad(`ops[${i}]: "${key}" is not a map`);
  }
  return map;
}

// ---- Automerge ----

function automergeEdit(doc: Record<string, unknown>, ops: JsonOp[]): void {
  // Automerge rolls the whole change back when the callback throws, so checks can happen as we go.
  for (const [i, op] of ops.entries()) {
    const parent = automergeParent(doc, op.path.slice(0, -1), op.op !== "delete", i);
    const key = op.path.at(-1)!;
    if (!parent) continue;
    const current = parent[key];
    switch (op.op) {
      case "set":
        parent[key] = op.value;
        break;
      case "delete":
        delete parent[key];
        break;
      case "insertText":
      case "deleteText": {
        if (current === undefined) parent[key] = "";
        else if (typeof current !== "string") throw bad(`ops[${i}]: ${op.path.join(".")} is not text`);
        const length = (parent[key] as string).length;
        const end = op.op === "insertText" ? op.index : op.index + op.length;
        if (end > length) throw bad(`ops[${i}]: index out of range (the text has ${length} characters)`);
        Automerge.splice(parent as Automerge.Doc<unknown>, [key], op.index, op.op === "deleteText" ? op.length : 0, op.op === "insertText" ? op.text : undefined);
        break;
      }
      case "push":
        if (current === undefined) parent[key] = [op.value];
        else if (Array.isArray(current)) current.push(op.value);
        else throw bad(`ops[${i}]: ${op.path.join(".")} is not a list`);
        break;
      case "increment":
        if (current === undefined) parent[key] = new Automerge.Counter(op.by);
        else if (current instanceof Automerge.Counter) current.increment(op.by);
        else throw bad(`ops[${i}]: ${op.path.join(".")} is not a counter`);
        break;
    }
  }
}

function automergeParent(doc: Record<string, unknown>, keys: string[], create: boolean, i: number): Record<string, unknown> | undefined {
  let obj = doc;
  for (const key of keys) {
    const next = obj[key];
    if (next === undefined && create) obj[key] = {};
    else if (next === undefined) return undefined;
    else if (typeof next !== "object" || next === null || Array.isArray(next) || next instanceof Automerge.Counter) throw bad(`ops[${i}]: "${key}" is not a map`);
    obj = obj[key] as Record<string, unknown>;
  }
  return obj;
}
