/**
 * Repairing a damaged document from a peer. A document whose records fail
 * their checks (DocStore.load: "corrupt_record") is never served; given a
 * peer's WHOLE state of it (anti-entropy asks for one by telling the peer it
 * lacks the document), its records are swapped for a fresh sealed set that
 * holds exactly that state, in one atomic store write.
 *
 * The state is validated like any delta from a region, on an empty document,
 * before anything is written: a partial delta (one that builds on content this
 * replica no longer has) is refused, so a repair never serves half a document.
 * Whatever the damaged copy held that no peer has is lost: it cannot be read.
 */
import type { DocEngine, DocKind } from "../doc/engine.ts";
import { ConcordError, isConcordError } from "../errors.ts";
import type { DocSlots } from "./doc-slots.ts";
import { wholeStateChanges } from "./doc-writer.ts";
import { versionHash } from "./version-token.ts";

export interface DocRepairDeps {
  slots: DocSlots;
  engines: Record<DocKind, DocEngine<unknown>>;
}

/**
 * The changes that rebuild `state` (a peer's whole state: a Yjs update from
 * empty, an Automerge save or all its changes) on an empty document, and the
 * version hash they reach. Throws ConcordError("invalid_update") when it is not a whole state.
 */
export function rebuildFromWholeState(engine: DocEngine<unknown>, state: Uint8Array): { delta: Uint8Array; versionHash: Uint8Array } {
  const empty = engine.create();
  const emptyVersion = engine.version(empty);
  let rebuilt: unknown;
  try {
    rebuilt = engine.apply(empty, state, { sizeLimit: "snapshot" }).state;
  } catch (error) {
    // An Automerge save is a whole state the engine loads but does not apply: convert it to its changes.
    if (!isConcordError(error, "invalid_update") || error.details.reason === "missing_dependencies") throw error;
    const changes = wholeStateChanges(engine, state, emptyVersion);
    if (changes === undefined) throw error;
    rebuilt = engine.apply(engine.create(), changes, { sizeLimit: "snapshot" }).state;
  }
  return { delta: engine.diff(rebuilt, emptyVersion), versionHash: versionHash(engine.version(rebuilt)) };
}

/**
 * Repairs `id` from a peer's whole state of a `kind` document: true when it
 * was damaged here and is now rewritten; false when it loads (nothing to
 * repair: the caller applies the state as an ordinary remote write) or is absent.
 */
export async function repairDoc(deps: DocRepairDeps, id: string, kind: DocKind, state: Uint8Array): Promise<boolean> {
  const engine = deps.engines[kind];
  if (!engine) throw new ConcordError("invalid_argument", `unknown document kind ${String(kind)}`);
  const { delta, versionHash: hash } = rebuildFromWholeState(engine, state);
  return deps.slots.rewriteDamaged(id, kind, delta, hash);
}
