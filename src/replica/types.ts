/** The public shapes of the embedded replica API. */
import type { DocKind, EngineLimits } from "../doc/engine.ts";
import type { Clock } from "../runtime/clock.ts";
import type { Random } from "../runtime/random.ts";
import type { Store } from "../storage/store.ts";

export interface ReplicaOptions {
  /** The byte store (memory, LMDB, IndexedDB, PostgreSQL). The replica closes it on close(). */
  store: Store;
  /** The region master key, 32 bytes. */
  masterKey: Uint8Array;
  /** This replica's region id, e.g. "us-east". Default "local". */
  region?: string;
  clock?: Clock;
  /** Must be a CSPRNG in production: it makes data keys and nonces. */
  random?: Random;
  /** Budget for loaded documents, in estimated bytes. Default 256 MiB. */
  cacheMaxBytes?: number;
  /** Size and nesting limits for deltas. */
  limits?: Partial<EngineLimits>;
  /** Fold the log into a new snapshot once it holds this many bytes and more than the snapshot. Default 64 KiB. */
  compactMinLogBytes?: number;
  /** ... or once it holds this many records, whatever their size. Default 4096. */
  compactMaxLogRecords?: number;
}

/** A document as read: its canonical JSON value and version. */
export interface DocView {
  id: string;
  kind: DocKind;
  /** Opaque, base64url; changes whenever the content does. */
  version: string;
  value: unknown;
}

/** Returned once a write is durable on this replica. */
export interface WriteAck {
  id: string;
  /** The document's version after the write. */
  version: string;
  /** False when the delta was already there (a duplicate is acknowledged, not an error). */
  changed: boolean;
}

export interface DocChange {
  id: string;
  kind: DocKind;
  delta: Uint8Array;
  version: string;
}

export type ChangeListener = (change: DocChange) => void;

export interface ListOptions {
  /** Only ids starting with this. */
  prefix?: string;
  /** At most this many ids. */
  limit?: number;
  /** Only ids sorting after this one (for paging). */
  after?: string;
}

export interface ReplicaStats {
  region: string;
  cachedDocs: number;
  cacheBytes: number;
  cacheEvictions: number;
  storeBatches: number;
  storeEntries: number;
  compactions: number;
  rejectedDeltas: number;
  listenerErrors: number;
}
