/**
 * JSON ops on a Y.Doc. The first path element names a root type: a map for
 * set/delete/increment (so those need at least two elements), a text for
 * insertText/deleteText, an array for push. Root types are named, so every
 * region's "items" is the same array already. Deeper elements walk nested
 * maps; a missing one, and the counter of an increment, is created by a
 * client id derived from (document, parent, key, the item it follows), so
 * regions creating it concurrently make one struct (container-ids.ts).
 *
 * Ops are validated in full before the edit touches the document: Yjs has no
 * rollback, so a bad op must be caught before the first mutation.
 */
import * as Y from "yjs";
import { deterministicClientId } from "./container-ids.ts";
import type { OpScope } from "./engine.ts";
import { badOp as bad, type JsonOp } from "./json-ops.ts";
import { counterMarker, incrementYjsCounter, isYjsCounter } from "./yjs-counter.ts";

/** What names the document, for deterministic ids; `initWriter` makes every other struct deterministic too. */
export interface YjsOpScope extends OpScope {
  /** A client id for the whole edit (initial shapes): the document must be empty or in a state every region shares. */
  initWriter?: number;
}

type RootKind = "map" | "text" | "array";
const rootKindOf = (op: JsonOp): RootKind =>
  op.op === "insertText" || op.op === "deleteText" || (op.op === "ensure" && op.container === "text") ? "text"
    : op.op === "push" || (op.op === "ensure" && op.container === "list") ? "array" : "map";
const constructors = { map: Y.Map, text: Y.Text, array: Y.Array } as const;

/** Applies `ops` to `doc` inside the caller's transaction. Throws invalid_argument before any mutation. */
export function applyYjsOps(doc: Y.Doc, ops: JsonOp[], scope: YjsOpScope): void {
  checkYjsOps(doc, ops);
  const own = doc.clientID;
  if (scope.initWriter !== undefined) doc.clientID = scope.initWriter;
  try {
    for (const [i, op] of ops.entries()) runOp(doc, op, i, scope);
  } finally {
    doc.clientID = own;
  }
}

// A root already used as another type, a too-short path or an out-of-range index would otherwise fail half-way through.
function checkYjsOps(doc: Y.Doc, ops: JsonOp[]): void {
  const planned = new Map<string, RootKind>();
  const textLengths = new Map<string, number>();
  for (const [i, op] of ops.entries()) {
    const name = op.path[0]!;
    const kind = rootKindOf(op);
    const rootOnly = kind !== "map" || (op.op === "ensure" && op.path.length === 1);
    if (!rootOnly && op.path.length < 2) throw bad(`ops[${i}]: in a Yjs document ${op.op} needs [map, key, ...]: the first element names a root map`);
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
    if (op.path.length > 2) checkMapPath(doc.share.get(name), op.path.slice(1, -1), i);
  }
}

/** Intermediate keys that exist must be maps (not counters); missing ones will be created. */
function checkMapPath(root: Y.AbstractType<any> | undefined, keys: string[], i: number): void {
  let type = root;
  for (const key of keys) {
    const item = type?._map.get(key);
    if (item === undefined || item.deleted) return;
    const next = item.content.getContent()[item.length - 1];
    if (!(next instanceof Y.Map) || isYjsCounter(next)) throw bad(`ops[${i}]: "${key}" is not a map`);
    type = next;
  }
}

function runOp(doc: Y.Doc, op: JsonOp, i: number, scope: YjsOpScope): void {
  const name = op.path[0]!;
  switch (op.op) {
    case "insertText":
      doc.getText(name).insert(op.index, op.text);
      return;
    case "deleteText":
      doc.getText(name).delete(op.index, op.length);
      return;
    case "push":
      doc.getArray(name).push([op.value]);
      return;
    default:
  }
  if (op.op === "ensure" && op.path.length === 1) {
    doc.get(name, constructors[rootKindOf(op)]);
    return;
  }
  const root = doc.getMap(name);
  const map = mapAt(doc, root, op.path.slice(1, -1), op.op !== "delete", i, scope);
  const key = op.path.at(-1)!;
  if (!map) return; // deleting under a missing map: nothing to delete
  if (op.op === "set") map.set(key, op.value);
  else if (op.op === "delete") map.delete(key);
  else if (op.op === "increment") incrementYjsCounter(doc, counterAt(doc, map, key, i, scope), op.by);
  else if (op.op === "ensure" && op.container === "counter") counterAt(doc, map, key, i, scope);
  else if (op.op === "ensure") containerAt(doc, map, key, "map", i, scope);
}

function mapAt(doc: Y.Doc, root: Y.Map<unknown>, keys: string[], create: boolean, i: number, scope: OpScope): Y.Map<unknown> | undefined {
  let map = root;
  for (const key of keys) {
    const next = map.get(key);
    if (next === undefined && !create) return undefined;
    map = next === undefined ? containerAt(doc, map, key, "map", i, scope) : asMap(next, key, i);
  }
  return map;
}

function asMap(value: unknown, key: string, i: number): Y.Map<unknown> {
  if (!(value instanceof Y.Map) || isYjsCounter(value)) throw bad(`ops[${i}]: "${key}" is not a map`);
  return value;
}

function counterAt(doc: Y.Doc, map: Y.Map<unknown>, key: string, i: number, scope: OpScope): Y.Map<unknown> {
  const current = map.get(key);
  if (current === undefined) return containerAt(doc, map, key, "counter", i, scope);
  if (!isYjsCounter(current)) throw bad(`ops[${i}]: "${key}" is not a counter`);
  return current;
}

/**
 * The map (or counter) under `key`, created if missing by a client id derived
 * from where it goes. The struct's origin is the last item ever set at `key`
 * (deleted or not), which is part of the derivation: regions that saw the
 * same history make the same struct; regions that saw different sets of that
 * key make different ids, never one id with two contents.
 */
function containerAt(doc: Y.Doc, parent: Y.Map<unknown>, key: string, type: "map" | "counter", i: number, scope: OpScope): Y.Map<unknown> {
  const existing = parent.get(key);
  if (existing !== undefined) return asMap(existing, key, i);
  const last = parent._map.get(key);
  const parentName = parent._item ? `${parent._item.id.client}.${parent._item.id.clock}` : `root:${rootName(doc, parent)}`;
  const follows = last ? `${last.lastId.client}.${last.lastId.clock}` : "-";
  const salt = scope.racy ? String(doc.clientID) : "";
  const client = deterministicClientId("container", [scope.docId, parentName, key, type, follows, salt]);
  if (doc.store.clients.has(client)) throw bad(`ops[${i}]: cannot create "${key}" here (its deterministic id is taken); create the document with an initial shape instead`);
  const own = doc.clientID;
  doc.clientID = client;
  try {
    const created = parent.set(key, new Y.Map<unknown>());
    if (type === "counter") created.set(counterMarker, 1);
    return created;
  } finally {
    doc.clientID = own;
  }
}

function rootName(doc: Y.Doc, type: Y.AbstractType<any>): string {
  for (const [name, root] of doc.share) if (root === type) return name;
  throw bad("a root map without a name");
}
