/**
 * JSON ops on an Automerge document. Paths walk the document's maps; a
 * missing map on the path, the list of a push, the text of insertText and the
 * counter of an increment are first created by a genesis change of their own
 * (automerge-genesis.ts) that every region makes byte-identically, so two
 * regions' first pushes land in one list and their first increments in one
 * counter. Then the ops run as one ordinary change by this replica's actor.
 * The delta is the genesis changes followed by that change.
 */
import * as Automerge from "@automerge/automerge";
import { isConcordError } from "../errors.ts";
import { containerGenesis, rootObjectId } from "./automerge-genesis.ts";
import { editFailed } from "./engine-errors.ts";
import type { OpScope } from "./engine.ts";
import { badOp as bad, type ContainerType, type JsonOp } from "./json-ops.ts";

type Doc = Automerge.Doc<any>;
type Obj = Record<string, unknown>;

/** What the engine lends the ops: its checked apply, its change, and who made an object. */
export interface AutomergeOpsDeps {
  /** Validates and applies a delta (engine.apply). */
  apply(doc: Doc, delta: Uint8Array): Doc;
  /** Runs an edit as one change by `actor` (this replica's when undefined); empty delta when nothing changed. */
  change(doc: Doc, edit: (draft: Obj) => void, actor: string | undefined): { state: Doc; delta: Uint8Array };
  /** Hash of the change that created object `objId`, undefined for the root. */
  creatorOf(doc: Doc, objId: string): string | undefined;
}

export interface AutomergeOpScope extends OpScope {
  /** An actor for the final change too (initial shapes): every region then makes the same change. */
  initWriter?: string;
}

/** Creates what the ops need, then applies them. A failure after a genesis change carries `damaged`. */
export function applyAutomergeOps(doc: Doc, ops: JsonOp[], scope: AutomergeOpScope, deps: AutomergeOpsDeps): { state: Doc; delta: Uint8Array } {
  for (const [i, op] of ops.entries()) {
    if (op.path.includes("__proto__")) throw bad(`ops[${i}]: Automerge documents cannot hold the key "__proto__"`);
  }
  const genesis: Uint8Array[] = [];
  let state = doc;
  try {
    for (const [i, op] of ops.entries()) {
      if (op.op !== "delete") state = ensurePath(state, op.path, leafContainer(op), i, scope, deps, genesis);
    }
    const { state: next, delta } = deps.change(state, (draft) => editOps(draft, ops), scope.initWriter);
    return { state: next, delta: concat([...genesis, delta]) };
  } catch (error) {
    if (genesis.length === 0) throw error;
    // The genesis changes are in the live document but not in the store: it must be reloaded.
    throw editFailed(isConcordError(error) && error.details["reason"] === "edit_threw" ? error.cause : error, true);
  }
}

function leafContainer(op: JsonOp): ContainerType | undefined {
  switch (op.op) {
    case "push": return "list";
    case "insertText":
    case "deleteText": return "text";
    case "increment": return "counter";
    case "ensure": return op.container;
    default: return undefined;
  }
}

/** Makes sure every map on `path` and the leaf container exist, applying genesis changes for those missing. */
function ensurePath(
  doc: Doc, path: string[], leaf: ContainerType | undefined, i: number, scope: OpScope, deps: AutomergeOpsDeps, genesis: Uint8Array[],
): Doc {
  let state = doc;
  const depth = leaf === undefined ? path.length - 1 : path.length;
  for (let at = 0; at < depth; at++) {
    const type: ContainerType = at === path.length - 1 ? leaf! : "map";
    const parent = objectAt(state, path.slice(0, at), i);
    const key = path[at]!;
    const current = member(parent, key);
    if (current !== undefined) {
      checkType(current, type, path.slice(0, at + 1), i);
      continue;
    }
    const parentId = at === 0 ? rootObjectId : Automerge.getObjectId(parent)!;
    const salt = scope.racy ? Automerge.getActorId(state) : "";
    const change = containerGenesis(state, { docId: scope.docId, parentId, creator: deps.creatorOf(state, parentId), key, type, salt });
    state = deps.apply(state, change);
    genesis.push(change);
  }
  return state;
}

/** The map at `keys` (all exist and are maps: ensurePath walks down in order). */
function objectAt(doc: Doc, keys: string[], i: number): Obj {
  let obj = doc as Obj;
  for (const key of keys) {
    const next = member(obj, key);
    if (!isMap(next)) throw bad(`ops[${i}]: "${key}" is not a map`);
    obj = next;
  }
  return obj;
}

/** `obj[key]` if it is the object's own (a key like "constructor" must not reach the prototype). */
function member(obj: Obj, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
}

function isMap(value: unknown): value is Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Automerge.Counter)
    && !(value instanceof Date) && !(value instanceof Uint8Array) && !Automerge.isImmutableString(value);
}

function checkType(value: unknown, type: ContainerType, path: string[], i: number): void {
  const fits = type === "map" ? isMap(value) : type === "list" ? Array.isArray(value) : type === "text" ? typeof value === "string" : value instanceof Automerge.Counter;
  const name = type === "map" ? "a map" : type === "list" ? "a list" : type === "text" ? "text" : "a counter";
  if (!fits) throw bad(`ops[${i}]: ${path.join(".")} is not ${name}`);
}

// Every container exists now, unless an earlier op of this request deleted it.
function editOps(doc: Obj, ops: JsonOp[]): void {
  for (const [i, op] of ops.entries()) {
    const parent = parentOf(doc, op.path.slice(0, -1), i);
    const key = op.path.at(-1)!;
    if (parent === undefined) {
      if (op.op === "delete") continue;
      throw bad(`ops[${i}]: ${op.path.join(".")} was deleted earlier in this request`);
    }
    const current = member(parent, key);
    if (op.op === "set") parent[key] = op.value;
    else if (op.op === "delete") delete parent[key];
    else if (current === undefined) throw bad(`ops[${i}]: ${op.path.join(".")} was deleted earlier in this request`);
    else if (op.op === "push") (current as unknown[]).push(op.value);
    else if (op.op === "increment") (current as Automerge.Counter).increment(op.by);
    else if (op.op === "insertText" || op.op === "deleteText") editText(parent, key, op, i);
  }
}

function parentOf(doc: Obj, keys: string[], i: number): Obj | undefined {
  let obj = doc;
  for (const key of keys) {
    const next = member(obj, key);
    if (next === undefined) return undefined;
    if (!isMap(next)) throw bad(`ops[${i}]: "${key}" is not a map`);
    obj = next;
  }
  return obj;
}

function editText(parent: Obj, key: string, op: Extract<JsonOp, { op: "insertText" | "deleteText" }>, i: number): void {
  const current = member(parent, key);
  if (typeof current !== "string") throw bad(`ops[${i}]: ${op.path.join(".")} is not text`);
  const end = op.op === "insertText" ? op.index : op.index + op.length;
  if (end > current.length) throw bad(`ops[${i}]: index out of range (the text has ${current.length} characters)`);
  Automerge.splice(parent as Automerge.Doc<unknown>, [key], op.index, op.op === "deleteText" ? op.length : 0, op.op === "insertText" ? op.text : undefined);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const nonEmpty = parts.filter((part) => part.length > 0);
  if (nonEmpty.length === 1) return nonEmpty[0]!;
  const out = new Uint8Array(nonEmpty.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of nonEmpty) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
