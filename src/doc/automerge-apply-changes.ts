/**
 * The two ways the Automerge engine applies changes it has checked: to the
 * live document, or, when only a save and load can prove them (text marks,
 * encodings the canonical check cannot redo), to a copy kept only if it
 * survives that.
 */
import * as Automerge from "@automerge/automerge";
import { invalidUpdate } from "./engine-errors.ts";
import type { IncomingChange } from "./automerge-change-check.ts";
import type { AutomergeOpIndex } from "./automerge-op-index.ts";
import { sortedHeads } from "./automerge-heads.ts";

// Documents hold arbitrary JSON-like content; callers narrow it themselves.
type Doc = Automerge.Doc<any>;

/** Applies checked changes to the live document; an engine failure that moved its heads damages it. */
export function applyInPlace(doc: Doc, changes: IncomingChange[], index: AutomergeOpIndex): Doc {
  const before = index.headsKey;
  try {
    return Automerge.applyChanges(doc, changes.map((change) => change.bytes))[0];
  } catch (cause) {
    index.rollback();
    // A wasm panic may leave part of the batch in the document; only unchanged heads prove it intact.
    throw invalidUpdate("engine_error", "Automerge failed to apply checked changes", { cause, damaged: !headsStill(doc, before) });
  }
}

/**
 * Applies checked changes to a copy and keeps the copy only if it still saves
 * and loads. Text marks need this: Automerge refuses to load a mark whose end
 * sits before its begin, and checking that order up front would need the
 * text's element order. O(document), but only for deltas that format text.
 */
export function applyVerified(doc: Doc, changes: IncomingChange[], index: AutomergeOpIndex): Doc {
  let copy: Doc | undefined;
  try {
    copy = Automerge.clone(doc, { actor: Automerge.getActorId(doc) });
    copy = Automerge.applyChanges(copy, changes.map((change) => change.bytes))[0];
    Automerge.getBackend(copy).saveAndVerify();
    return copy;
  } catch (cause) {
    index.rollback();
    if (copy !== undefined) Automerge.free(copy);
    throw invalidUpdate("malformed", "Automerge changes do not survive a save and load", { cause });
  }
}

function headsStill(doc: Doc, headsKey: string): boolean {
  try {
    return sortedHeads(doc).join() === headsKey;
  } catch {
    return false;
  }
}
