/**
 * Decides, before a Yjs update touches a live Y.Doc, whether Yjs would
 * integrate all of it. Yjs parks whatever it cannot integrate in
 * doc.store.pendingStructs/pendingDs forever, and throws halfway through a
 * transaction on some self-referencing structs; this check rejects both.
 *
 * It replays Yjs's integration order on numbers only (integrateStructs: a
 * struct needs its predecessor from the same client and the structs its
 * origin, right origin and parent ids point to), then checks the delete set
 * and the nesting of new shared types and JSON values. Cost is O(size of the
 * update) plus O(depth) per new nested value; the document is only read
 * through Y.getState and, for nesting, Y.getItem.
 */
import * as Y from "yjs";
import { invalidUpdate } from "./engine-errors.ts";
import { malformed } from "./byte-reader.ts";
import { contentRefs, structKinds, type DecodedSection, type DecodedStruct, type DecodedUpdate } from "./yjs-update-decoder.ts";
import { yjsTypeDepth } from "./yjs-depth.ts";

/** What applying a checked update will do. */
export interface YjsCheckResult {
  /** True when the update adds structs the document does not have yet. */
  addsStructs: boolean;
}

interface Cursor {
  section: DecodedSection;
  next: number;
  /** On the resolution stack: needing it again means a cycle. */
  busy: boolean;
}

/**
 * Throws ConcordError("invalid_update") with reason "missing_dependencies",
 * "malformed" (duplicate client sections, references Yjs cannot resolve) or
 * "too_deep"; otherwise Y.applyUpdate will integrate every struct and delete.
 */
export function checkYjsUpdate(doc: Y.Doc, update: DecodedUpdate, maxDepth: number): YjsCheckResult {
  const result = update.sections.length <= 1 ? integrateOneClient(doc, update) : integrateClients(doc, update);
  checkNesting(doc, update, maxDepth);
  return result;
}

/**
 * The common case (a local edit's delta has one client): only that client's
 * state moves, so no bookkeeping beyond one number is needed.
 */
function integrateOneClient(doc: Y.Doc, update: DecodedUpdate): YjsCheckResult {
  const store = doc.store;
  const section = update.sections[0];
  let addsStructs = false;
  let client = -1;
  let state = 0;
  if (section !== undefined) {
    client = section.client;
    state = Y.getState(store, client);
    const stateOf = (other: number): number => (other === client ? state : Y.getState(store, other));
    const structs = section.structs;
    for (let i = 0; i < structs.length; i++) {
      const struct = structs[i]!;
      if (struct.kind === structKinds.skip) continue;
      if (struct.clock > state) throw missing(`structs of client ${client} start past its state`);
      const needed = unmetReference(struct, stateOf);
      if (needed !== -1) throw missing(`struct ${client}:${struct.clock} needs data from client ${needed}`);
      const end = struct.clock + struct.length;
      if (end > state) {
        state = end;
        addsStructs = true;
      }
    }
  }
  const deletes = update.deletes;
  for (let i = 0; i < deletes.length; i += 3) {
    const rangeClient = deletes[i]!;
    const known = rangeClient === client ? state : Y.getState(store, rangeClient);
    if (deletes[i + 1]! + deletes[i + 2]! > known) throw missing(`delete range of client ${rangeClient} is past its state`);
  }
  return { addsStructs };
}

/**
 * Several clients: replays Yjs's depth-first integration order, where a
 * struct that needs another client's data first integrates that client's
 * next structs. A struct needed while it waits itself is a cycle.
 */
function integrateClients(doc: Y.Doc, update: DecodedUpdate): YjsCheckResult {
  const store = doc.store;
  // The state each client reaches as structs integrate; starts at the document's.
  const state = new Map<number, number>();
  const stateOf = (client: number): number => state.get(client) ?? Y.getState(store, client);
  const cursors = new Map<number, Cursor>();
  for (const section of update.sections) {
    // Yjs keeps only the last section of a client; its own encoders write one.
    if (cursors.has(section.client)) malformed(`client ${section.client} appears twice`);
    cursors.set(section.client, { section, next: 0, busy: false });
  }

  let addsStructs = false;
  const stack: Cursor[] = [];

  // Pushes the next real struct of `cursor` if its own client has reached its clock.
  const enter = (cursor: Cursor): boolean => {
    const structs = cursor.section.structs;
    while (cursor.next < structs.length && structs[cursor.next]!.kind === structKinds.skip) cursor.next++;
    const struct = structs[cursor.next];
    if (struct === undefined || struct.clock > stateOf(struct.client)) return false;
    cursor.busy = true;
    stack.push(cursor);
    return true;
  };

  for (const cursor of cursors.values()) {
    const structs = cursor.section.structs;
    for (;;) {
      while (cursor.next < structs.length && structs[cursor.next]!.kind === structKinds.skip) cursor.next++;
      if (cursor.next >= structs.length) break;
      if (!enter(cursor)) throw missing(`structs of client ${cursor.section.client} start past its state`);
      while (stack.length > 0) {
        const top = stack[stack.length - 1]!;
        const struct = top.section.structs[top.next]!;
        const needed = unmetReference(struct, stateOf);
        if (needed !== -1) {
          // Yjs does not look up same-client references as dependencies; it expects them present.
          if (needed === struct.client) throw missing(`struct ${struct.client}:${struct.clock} refers forward to its own client`);
          const dependency = cursors.get(needed);
          if (dependency === undefined || dependency.busy || !enter(dependency)) {
            throw missing(`struct ${struct.client}:${struct.clock} needs data from client ${needed}`);
          }
          continue;
        }
        const end = struct.clock + struct.length;
        if (end > stateOf(struct.client)) {
          state.set(struct.client, end);
          addsStructs = true;
        }
        top.next++;
        top.busy = false;
        stack.pop();
      }
    }
  }

  const deletes = update.deletes;
  for (let i = 0; i < deletes.length; i += 3) {
    const client = deletes[i]!;
    if (deletes[i + 1]! + deletes[i + 2]! > stateOf(client)) throw missing(`delete range of client ${client} is past its state`);
  }
  return { addsStructs };
}

/** A client whose state an item's references need but which is not there yet, or -1. */
function unmetReference(struct: DecodedStruct, stateOf: (client: number) => number): number {
  if (struct.kind !== structKinds.item) return -1;
  if (struct.originClient >= 0 && struct.originClock >= stateOf(struct.originClient)) return struct.originClient;
  if (struct.rightClient >= 0 && struct.rightClock >= stateOf(struct.rightClient)) return struct.rightClient;
  if (struct.parentClient >= 0 && struct.parentClock >= stateOf(struct.parentClient)) return struct.parentClient;
  return -1;
}

function missing(message: string): Error {
  return invalidUpdate("missing_dependencies", message);
}

/**
 * Rejects new items that would sit deeper than `maxDepth`. Only items whose
 * content adds nesting (shared types, JSON objects/arrays) are looked at, so
 * text keystrokes cost nothing here.
 */
function checkNesting(doc: Y.Doc, update: DecodedUpdate, maxDepth: number): void {
  let resolver: ParentDepthResolver | undefined;
  for (const section of update.sections) {
    const known = Y.getState(doc.store, section.client);
    for (const struct of section.structs) {
      if (struct.contentDepth === 0 || struct.kind !== structKinds.item || struct.clock + struct.length <= known) continue;
      resolver ??= new ParentDepthResolver(doc, update, maxDepth);
      const parentDepth = resolver.parentDepth(struct);
      if (parentDepth !== null && parentDepth + struct.contentDepth > maxDepth) {
        throw invalidUpdate("too_deep", `update nests deeper than ${maxDepth} levels`);
      }
    }
  }
}

/**
 * Finds the depth of the shared type an item will land in: a root type is 1,
 * a type nested in it 2, and so on. Follows parent ids and, where the parent
 * is implied by a neighbour (origin, else right origin), that neighbour, into
 * the document or into the update itself. Memoised, so O(update) in total.
 */
class ParentDepthResolver {
  private readonly memo = new Map<DecodedStruct, number | null>();
  private readonly sections = new Map<number, DecodedSection>();
  private readonly maxSteps: number;

  constructor(
    private readonly doc: Y.Doc,
    update: DecodedUpdate,
    private readonly maxDepth: number,
  ) {
    let structs = 0;
    for (const section of update.sections) {
      this.sections.set(section.client, section);
      structs += section.structs.length;
    }
    this.maxSteps = structs + 1;
  }

  /** The parent's depth, or null when Yjs will turn the item into a GC struct (its parent is gone). */
  parentDepth(start: DecodedStruct): number | null {
    const visited: Array<{ struct: DecodedStruct; offset: number }> = [];
    let offset = 0;
    let current = start;
    let result: number | null;
    for (let steps = 0; ; steps++) {
      // The integration check already ruled out cycles; this only guards that claim.
      if (steps > this.maxSteps) malformed("parent chain does not end");
      const memoised = this.memo.get(current);
      if (memoised !== undefined) {
        result = memoised === null ? null : memoised + offset;
        break;
      }
      visited.push({ struct: current, offset });
      if (current.parentRoot) {
        result = 1 + offset;
        break;
      }
      const byId = current.parentClient >= 0;
      const client = byId ? current.parentClient : current.originClient >= 0 ? current.originClient : current.rightClient;
      const clock = byId ? current.parentClock : current.originClient >= 0 ? current.originClock : current.rightClock;
      const target = this.locate(client, clock);
      if (target === null) {
        result = null;
        break;
      }
      if (target instanceof Y.Item) {
        if (byId) {
          result = target.content instanceof Y.ContentType ? yjsTypeDepth(target.content.type, this.maxDepth) + offset : null;
        } else {
          const parent = target.parent;
          result = parent instanceof Y.AbstractType ? yjsTypeDepth(parent, this.maxDepth) + offset : null;
        }
        break;
      }
      // In this update: a parent id must name a shared type; a neighbour shares our parent.
      if (byId) {
        if (target.contentRef !== contentRefs.type) {
          result = null;
          break;
        }
        offset += 1;
        if (offset >= this.maxDepth) throw invalidUpdate("too_deep", `update nests deeper than ${this.maxDepth} levels`);
      }
      current = target;
    }
    for (const entry of visited) this.memo.set(entry.struct, result === null ? null : result - entry.offset);
    return result;
  }

  /** The item holding id (client, clock): a live Y.Item, an update struct, or null for GC'd/absent. */
  private locate(client: number, clock: number): Y.Item | DecodedStruct | null {
    if (clock < Y.getState(this.doc.store, client)) {
      const struct = Y.getItem(this.doc.store, Y.createID(client, clock)) as Y.Item | Y.GC;
      return struct instanceof Y.Item ? struct : null;
    }
    const section = this.sections.get(client);
    if (section === undefined) return null;
    const structs = section.structs;
    let low = 0;
    let high = structs.length - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const struct = structs[mid]!;
      if (clock < struct.clock) high = mid - 1;
      else if (clock >= struct.clock + struct.length) low = mid + 1;
      else return struct.kind === structKinds.item ? struct : null;
    }
    return null;
  }
}
