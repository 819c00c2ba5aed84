/**
 * Decides, before a Yjs update touches a live Y.Doc, whether Yjs would
 * integrate all of it. Yjs parks whatever it cannot integrate in
 * doc.store.pendingStructs/pendingDs forever, and throws halfway through a
 * transaction on some self-referencing structs; this check rejects both.
 *
 * It replays Yjs's integration order on numbers only (integrateStructs: a
 * struct needs its predecessor from the same client and the structs its
 * origin, right origin and parent ids point to), then checks the delete set
 * and nesting (yjs-nesting-check.ts). Cost is O(size of the update); the
 * document is only read through Y.getState.
 */
import * as Y from "yjs";
import { invalidUpdate } from "./engine-errors.ts";
import { malformed } from "./byte-reader.ts";
import { structKinds, type DecodedSection, type DecodedStruct, type DecodedUpdate } from "./yjs-update-decoder.ts";
import { checkYjsNesting } from "./yjs-nesting-check.ts";

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
 * Throws ConcordError("invalid_update") with reason "missing_dependencies"
 * (including references Yjs would fail on mid-transaction), "malformed"
 * (a client section listed twice) or "too_deep"; otherwise Y.applyUpdate
 * will integrate every struct and every delete.
 */
export function checkYjsUpdate(doc: Y.Doc, update: DecodedUpdate, maxDepth: number): YjsCheckResult {
  const result = update.sections.length <= 1 ? integrateOneClient(doc, update) : integrateClients(doc, update);
  checkYjsNesting(doc, update, maxDepth);
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
    const known = state;
    const structs = section.structs;
    for (let i = 0; i < structs.length; i++) {
      const struct = structs[i]!;
      if (struct.kind === structKinds.skip) continue;
      checkContinuation(doc, struct, known);
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
        checkContinuation(doc, struct, Y.getState(store, struct.client));
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

/**
 * A struct the document already holds the start of is integrated from where
 * the document's state ends, next to the item holding the last known clock
 * (Yjs takes that item as the new part's left neighbour). For a struct whose
 * parent is written out, that neighbour must sit in the same parent under
 * the same key: otherwise Yjs links the new part into another type's list,
 * the live document reads one way and its encoding reloads another (found
 * by fuzzing: a map entry's value turned into a character of a text).
 */
function checkContinuation(doc: Y.Doc, struct: DecodedStruct, known: number): void {
  if (struct.kind !== structKinds.item || struct.originClient >= 0 || struct.rightClient >= 0) return;
  if (struct.clock >= known || struct.clock + struct.length <= known) return;
  const left = Y.getItem(doc.store, Y.createID(struct.client, known - 1));
  if (!(left instanceof Y.Item)) return;
  const parent = left.parent as Y.AbstractType<any> | null;
  const sameParent = struct.parentName !== null
    ? parent !== null && doc.share.get(struct.parentName) === parent
    : parent?._item?.id.client === struct.parentClient && parent?._item?.id.clock === struct.parentClock;
  if (!sameParent || (left.parentSub ?? null) !== struct.parentSub) {
    malformed(`struct ${struct.client}:${struct.clock} continues an item of another parent`);
  }
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
