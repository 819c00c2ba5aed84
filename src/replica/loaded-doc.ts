/** A document held in memory by the replica, and how one is made from what the store holds. */
import type { DocEngine } from "../doc/engine.ts";
import { ConcordError, isConcordError } from "../errors.ts";
import { bytesEqual } from "../storage/bytes.ts";
import type { DocHandle, StoredDoc } from "../storage/doc-store.ts";
import { versionHash } from "./version-token.ts";

export interface LoadedDoc {
  handle: DocHandle;
  engine: DocEngine<unknown>;
  state: unknown;
  /** Sequence number of the last delta applied (persisted or in flight). */
  seq: number;
  snapshotSeq: number;
  snapshotBytes: number;
  logBytes: number;
  /** Durable once the most recent append for this document is. */
  lastWrite: Promise<void>;
  size: number;
}

export function freshDoc(handle: DocHandle, engine: DocEngine<unknown>, state: unknown = engine.create()): LoadedDoc {
  return {
    handle, engine, state, seq: 0, snapshotSeq: 0, snapshotBytes: 0, logBytes: 0,
    lastWrite: Promise.resolve(), size: engine.sizeEstimate(state),
  };
}

/**
 * Replays snapshot and log. Stored bytes the engine refuses mean the record
 * is corrupt; so does a replay that does not reach the version its version
 * record names (the records went back to an older set that still chains:
 * see doc-load.ts). Never served either way: the replica repairs it from a peer.
 */
export function docFromStore(stored: StoredDoc, engine: DocEngine<unknown>): LoadedDoc {
  let state: unknown;
  try {
    state = stored.snapshot ? engine.load(stored.snapshot) : engine.create();
    // The log holds deltas this replica accepted, from clients or regions: bound them as regions' are.
    for (const { delta } of stored.log) state = engine.apply(state, delta, { sizeLimit: "snapshot" }).state;
  } catch (cause) {
    if (isConcordError(cause, "invalid_update") || isConcordError(cause, "too_large")) {
      throw new ConcordError("corrupt_record", `document "${stored.id}" holds data its engine rejects`, { cause });
    }
    throw cause;
  }
  if (stored.recordedVersion && !bytesEqual(versionHash(engine.version(state)), stored.recordedVersion)) {
    throw new ConcordError("corrupt_record", `document "${stored.id}" does not reach the version its version record names (its records were rolled back or swapped)`);
  }
  return {
    handle: stored, engine, state,
    seq: stored.log.at(-1)?.seq ?? stored.snapshotSeq,
    snapshotSeq: stored.snapshotSeq,
    snapshotBytes: stored.snapshot?.length ?? 0,
    logBytes: stored.log.reduce((n, r) => n + r.delta.length, 0),
    lastWrite: Promise.resolve(),
    size: engine.sizeEstimate(state),
  };
}
