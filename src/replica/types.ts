/** The public shapes of the embedded replica API. */
import type { ChangeVerifier } from "../doc/automerge-verdicts.ts";
import type { DocKind, EngineLimits } from "../doc/engine.ts";
import type { ConcordError } from "../errors.ts";
import type { Clock } from "../runtime/clock.ts";
import type { Random } from "../runtime/random.ts";
import type { Store } from "../storage/store.ts";

/**
 * Deliberate defects for the simulator's checker to catch (`concord sim --inject-bug`).
 * Never set in production; each one breaks a guarantee on purpose. Not public API:
 * only InternalReplicaOptions (src/internal.ts) carries them.
 */
export interface InjectedBugs {
  /** Acknowledge a write before the store says it is durable. */
  ackBeforeDurable?: boolean;
  /** Apply deltas from other regions in memory without persisting them. */
  skipRemotePersist?: boolean;
  /** Drop a failed eager push instead of retrying it (gossip). */
  dropFailedPushes?: boolean;
  /** Never run anti-entropy (gossip). */
  skipAntiEntropy?: boolean;
  /** Create the containers of JSON ops with this replica's own writer, so concurrent creations compete (the naive way). */
  racyContainerCreate?: boolean;
  /**
   * Load documents without checking their records against the record chain's
   * head and the version record, so a rolled-back or dropped log tail is served.
   */
  serveRolledBackTail?: boolean;
}

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

/** ReplicaOptions plus what only the simulator and tests set (src/internal.ts); the public openReplica ignores `bugs`. */
export interface InternalReplicaOptions extends ReplicaOptions {
  /** Deliberate defects (see InjectedBugs). */
  bugs?: InjectedBugs;
  /** Where large Automerge deltas are checked off the event loop (EngineDeps.changeVerifier); Node's openReplica sets a worker pool. */
  changeVerifier?: ChangeVerifier;
}

/** What names a document's content without rendering it: its kind and version. */
export interface DocHead {
  id: string;
  kind: DocKind;
  /** Opaque, base64url; changes whenever the content does. Grows with the document's writers and deletes. */
  version: string;
  /**
   * The same version as a fixed-size tag (25 characters, `v1.` + base64url;
   * see src/replica/version-tag.ts): what HTTP ETags carry. Equal in every
   * region for equal versions. Works as `ifVersion` and as `diff`'s version.
   */
  etag: string;
}

/** A document as read: its canonical JSON value and version. */
export interface DocView extends DocHead {
  value: unknown;
}

/** Returned once a write is durable on this replica (and on as many regions as asked). */
export interface WriteAck {
  id: string;
  /** The document's version after the write. */
  version: string;
  /** That version's fixed-size tag (DocHead.etag): pass it as the next write's `ifVersion`. */
  etag: string;
  /** False when the delta was already there (a duplicate is acknowledged, not an error). */
  changed: boolean;
  /** Read-your-writes token: `read(id, { after: token })` on any region waits until it holds this write. */
  token: string;
  /** Regions known to hold the write durably, this one included (1 without replication). */
  replicatedTo: number;
}

/** How many regions must hold a write before it is acknowledged. It is never rolled back either way. */
export type Durability = "local" | "majority" | "all";

export interface WriteOptions {
  /** Default "local". */
  durability?: Durability;
  /**
   * How long to wait for other regions (on timeout the ack reports `replicatedTo`), and, for update(),
   * how long a delta sent before the updates it builds on waits for them (0: refuse it at once). Default 5000.
   */
  timeoutMs?: number;
  /**
   * Compare-and-set: apply the write only if the document is at this version
   * here, now (an `etag` or a `version` from a read or an ack; a list: any of
   * them). Otherwise ConcordError "precondition_failed" (details: the current
   * `etag` and `version`) and nothing changes. Checked and applied in one step,
   * so of two writes with the same `ifVersion` at most one applies. This region's
   * version only: other regions may accept concurrent writes all the same, and
   * they merge as ever (see README "Conditional writes"). A delta that lacks
   * its predecessors does not wait for them under a condition (their arrival
   * would move the version): it is refused at once.
   */
  ifVersion?: string | readonly string[];
}

export interface DeleteOptions {
  /** Delete only if the document is at this version here (WriteOptions.ifVersion). */
  ifVersion?: string | readonly string[];
}

export interface CreateOptions {
  /**
   * The document's initial shape, a JSON object: `{ items: [], meta: { title: "" } }`.
   * Every region applies it with the same change, so creating one document in
   * two regions at once with one shape merges. Automerge holds maps, lists and
   * texts at any depth; Yjs holds top-level maps, arrays and texts, with nested
   * objects as nested maps and nested arrays and strings as plain values.
   */
  init?: unknown;
}

/** One document for Replica.createMany. */
export interface CreateItem {
  id: string;
  kind: DocKind;
  /** Its initial shape, as CreateOptions.init. */
  init?: unknown;
}

/** What Replica.createMany did with one item: created at `version`, or refused with `error`. */
export type CreateResult =
  | { id: string; ok: true; version: string }
  | { id: string; ok: false; error: ConcordError };

export interface ReadOptions {
  /** A token from a WriteAck: wait until this replica holds that write. */
  after?: string;
  /** How long to wait for `after`; then ConcordError "not_caught_up". Default 5000. */
  timeoutMs?: number;
}

export interface DocChange {
  id: string;
  kind: DocKind;
  delta: Uint8Array;
  version: string;
  /** "local" for writes made here, "remote" for writes replicated from another region. */
  origin: "local" | "remote";
}

/** What replication observes: every durable change and deletion, local or remote. */
export type ReplicaEvent =
  | ({ type: "change"; versionBytes: Uint8Array; localSeq: number } & DocChange)
  | { type: "delete"; id: string; origin: "local" | "remote"; localSeq: number };

/** What a replica knows of one document, for anti-entropy. */
export type DocStatus =
  | { state: "absent" }
  | { state: "deleted" }
  | { state: "present"; kind: DocKind; version: Uint8Array };

/** Implemented by src/gossip; lets writes wait for other regions and stats include replication. */
export interface Replication {
  /** Total regions, this one included. */
  readonly regions: number;
  /** Resolves with how many regions hold local change `localSeq` once `count` do, or at the timeout. */
  waitForReplicas(localSeq: number, count: number, timeoutMs: number): Promise<number>;
  stats(): ReplicationStats;
}

/** One peer's replication figures, as this region sees them (`stats().replication.peers[peer]`). */
export interface PeerReplicationStats {
  /** The peer answers our requests (a peer whose frames reach us but which refuses ours is down). */
  up: boolean;
  /** Writes queued for eager push to it, and their bytes. */
  queueEntries: number;
  queueBytes: number;
  /** Queued writes dropped because the queue was full (anti-entropy repairs them). */
  queueDropped: number;
  /** The queue overflowed and awaits an anti-entropy round with this peer. */
  needsRepair: boolean;
  /** Clock time (ms) of the peer's last acknowledgement of a push, or null if none yet. */
  lastAckAt: number | null;
  /** Age of the oldest write the peer has not acknowledged, ms (0 when none is queued). */
  lagMs: number;
  /** Frame bytes sent to it and received from it. */
  bytesSent: number;
  bytesReceived: number;
  /** Frames from it this region refused, by reason ("bad_mac", "replayed", ...). */
  framesRejected: Partial<Record<string, number>>;
  /** Anti-entropy rounds completed with it, and documents they repaired. */
  antiEntropyRounds: number;
  docsRepaired: number;
  /** Times our counters to it skipped past frames it refused as replayed. */
  countersSkipped: number;
}

/** Deltas from other regions held until their predecessors arrive, and what became of refused ones. */
export interface PendingDeltaStats {
  pendingDeltas: number;
  pendingBytes: number;
  /** Pending deltas dropped to stay within the pending buffer's bytes (anti-entropy repairs them). */
  droppedPending: number;
  /** Deltas refused as invalid, and deltas whose document failed to load here. */
  rejected: number;
  failed: number;
}

/** Replication figures of a region (`Replica.stats().replication`). */
export interface ReplicationStats {
  peers: Record<string, PeerReplicationStats>;
  /** Frames refused before their sender was known (unknown sender, oversized, busy, ...), by reason. */
  framesRejectedUnknown: Partial<Record<string, number>>;
  pending: PendingDeltaStats;
  /** Documents known to the digest tree, tombstones included. */
  documents: number;
  /** Documents left out of anti-entropy because they failed to load here (a corrupt record, say). */
  docsSkipped: number;
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
  /** Documents whose losing kind's copy this replica moved to a conflict document (see src/replica/remote-apply.ts). */
  kindConflicts: number;
  /** Appends written again because another process sharing the store wrote the document first (see doc-writer.ts). */
  writeConflicts: number;
  /** Damaged documents (records failing their checks) rewritten from a peer's whole state (see doc-repair.ts). */
  docsRepaired: number;
  /** Client deltas waiting for the updates they build on (a pipelining writer's; see client-pending.ts). */
  pendingClientDeltas: number;
  listenerErrors: number;
  /** Documents refused now for trapping their engine again and again (see src/replica/doc-quarantine.ts). */
  quarantinedDocs: number;
  /** Documents quarantined since the replica opened. */
  docsQuarantinedTotal: number;
  /** Replication figures, per peer and in all, when the replica replicates (a region; not an app's own replica). */
  replication?: ReplicationStats;
}
