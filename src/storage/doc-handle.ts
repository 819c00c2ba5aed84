/** The handles and shapes the document store hands out and takes (see doc-store.ts). */
import type { DocKind } from "../doc/engine.ts";
import type { ChainHead } from "./record-chain.ts";

/** What the store needs to address and seal one document's records. */
export interface DocHandle {
  readonly id: string;
  readonly kind: DocKind;
  readonly hash: Uint8Array;
  readonly dataKey: Uint8Array;
  /**
   * Where its record set ends, advanced by every append and compaction made
   * through this handle (so one handle per live document: the replica's cache
   * holds it). The metadata written with each record names this head.
   */
  readonly chain: ChainHead;
  /**
   * The sealed metadata this handle last read or wrote (undefined: none yet,
   * a new document). Every write through the handle expects the store to
   * still hold it, so a write by another process in between makes it
   * conflict instead of forking the chain (see doc-store.ts).
   */
  sealedMeta: Uint8Array | undefined;
}

export interface StoredDoc extends DocHandle {
  /** Sequence number the snapshot covers (0 = no snapshot yet). */
  snapshotSeq: number;
  snapshot: Uint8Array | undefined;
  /** Deltas after the snapshot, in sequence order, contiguous. */
  log: Array<{ seq: number; delta: Uint8Array }>;
  /** Stored bytes of snapshot and log: the cost of loading it. */
  storedBytes: number;
  /**
   * The version hash its version record names (written in the batch of its
   * last append): what the replayed document must reach. Undefined when not known.
   */
  recordedVersion: Uint8Array | undefined;
}

/** Content that DocStore.replace moves into another document in the same atomic write. */
export interface KeptContent {
  /** The document it goes to: its handle when it exists here, or the id and kind to create it with. */
  doc: DocHandle | { id: string; kind: DocKind };
  /** Its log sequence for `delta`: the document's next one (1 for a new document). */
  seq: number;
  delta: Uint8Array;
  /** The document's version hash once `delta` is applied. */
  versionHash: Uint8Array;
}

