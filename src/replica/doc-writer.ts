/**
 * The replica's write path for one live document instance: validate and apply
 * a delta, append it through group commit, announce it once durable, and fold
 * the log into a snapshot when it has grown. Also hands out the local change
 * sequence every announcement carries. Callers reach the instance through
 * DocSlots.write, which guarantees it is the one cached.
 *
 * Another process sharing the store (a region on PostgreSQL) may write the
 * document between this instance's load and its append: the append then
 * conflicts (see src/storage/doc-store.ts) and nothing of it is stored. The
 * instance is retired, the document reloaded from the store (which holds the
 * other process's writes), and the delta applied and appended again: a CRDT
 * delta that applied to a state applies to any state that includes it. The
 * caller's promise resolves only once its delta is durable, and rejects with
 * "unavailable" after `maxWriteAttempts`. A write that fails outright
 * ("unavailable": the store is down) retires the instance too, since its
 * live state holds a delta the store may not; the next use reloads.
 */
import type { DocEngine } from "../doc/engine.ts";
import { ConcordError, isConcordError } from "../errors.ts";
import type { DocHandle, DocStore } from "../storage/doc-store.ts";
import type { ChangeFeed } from "./change-feed.ts";
import type { DocSlots } from "./doc-slots.ts";
import type { LoadedDoc } from "./loaded-doc.ts";
import type { InjectedBugs } from "./types.ts";
import { encodeVersion, versionHash } from "./version-token.ts";
import type { VersionTags } from "./version-tag.ts";

/** A write made durable: its place in this replica's change order and the version after it. */
export interface Persisted {
  localSeq: number;
  version: string;
  /** The same version's bytes (shared: never modify). */
  versionBytes: Uint8Array;
}

export interface DocWriterDeps {
  docs: DocStore;
  slots: DocSlots;
  feed: ChangeFeed;
  bugs: InjectedBugs;
  /** Where the tags handed out are remembered (see version-tag.ts). */
  tags: VersionTags;
  compactMinLogBytes: number;
  compactMaxLogRecords: number;
}

export interface DocWriter {
  /**
   * Applies a validated delta to the live document; whether it changed
   * anything. Deltas from other regions may be whole states (anti-entropy
   * diffs), so they are bounded by the snapshot limit, not the client one.
   * A rejection is counted; a damaged instance is retired.
   */
  apply(doc: LoadedDoc, delta: Uint8Array, from?: "client" | "region"): boolean;
  /**
   * apply() for a delta from another region, which may also be a whole state
   * the engine loads but does not apply (an Automerge save: anti-entropy sends
   * one when this region lacked the document, or held the other kind, as it
   * asked). That state is converted to the changes this document lacks, which
   * are then validated and applied like any delta. Returns whether anything
   * changed and the delta to persist (the changes, for a converted state).
   */
  applyFromRegion(doc: LoadedDoc, delta: Uint8Array): { changed: boolean; delta: Uint8Array };
  /**
   * Appends the delta (synchronously, before this returns its promise) and
   * resolves once it is durable, then announces it. The version reported is
   * taken then, not at apply time: it includes this write (and perhaps others
   * of the same group commit), and one computation serves the whole batch.
   */
  persist(doc: LoadedDoc, delta: Uint8Array, origin: "local" | "remote"): Promise<Persisted>;
  /**
   * Resolves once every write persist() made through `doc` is durable (after
   * any retry on a conflict); rejects if one of them failed. What a write
   * that changed nothing waits for: the state it found may still be on its way.
   */
  durable(doc: LoadedDoc): Promise<void>;
  /** Injected bug skipRemotePersist: observers hear of a change the store never got. */
  announceUnpersisted(doc: LoadedDoc, delta: Uint8Array): void;
  /** Announces a new (empty) document as a change carrying its empty state. */
  announceCreated(doc: LoadedDoc, origin: "local" | "remote"): void;
  /**
   * Announces a document created durable with `delta` as its whole content (its
   * empty state, or an initial shape's change), at version `versionBytes`;
   * the document need not be loaded (see create-many.ts).
   */
  announceNew(handle: DocHandle, delta: Uint8Array, versionBytes: Uint8Array, version: string): void;
  /** Announces `delta`, already durable in `doc` by other means (a kind conflict's move: see remote-apply.ts). */
  announceDurable(doc: LoadedDoc, delta: Uint8Array, origin: "local" | "remote"): void;
  /** The document's version, encoded once per state. */
  currentVersion(doc: LoadedDoc): { versionBytes: Uint8Array; version: string };
  /** The fixed-size tag of the document's version (see version-tag.ts), hashed once per state. */
  currentTag(doc: LoadedDoc): string;
  /** The next local change sequence (deletions take one too). */
  nextLocalSeq(): number;
  /** kindConflicts: documents whose losing kind's copy this replica moved aside (see remote-apply.ts). */
  /** writeConflicts: appends written again after another process wrote the document first. */
  readonly counters: { compactions: number; rejectedDeltas: number; kindConflicts: number; writeConflicts: number };
}

/** Appends of one delta tried before "unavailable" while other processes keep winning the race for the document. */
export const maxWriteAttempts = 8;

/**
 * What a document at `since` lacks of the whole state `bytes`, as a delta;
 * undefined when the engine does not load `bytes` (it is no whole state).
 */
export function wholeStateChanges(engine: DocEngine<unknown>, bytes: Uint8Array, since: Uint8Array): Uint8Array | undefined {
  let state: unknown;
  try {
    state = engine.load(bytes);
  } catch {
    return undefined;
  }
  return engine.diff(state, since);
}

export function createDocWriter(deps: DocWriterDeps): DocWriter {
  const { docs, slots, feed, bugs } = deps;
  const counters = { compactions: 0, rejectedDeltas: 0, kindConflicts: 0, writeConflicts: 0 };
  // Per live instance, its latest write including any retry (see durable()).
  const durableOf = new WeakMap<LoadedDoc, Promise<void>>();
  let localSeq = 0;
  let lastVersion: { doc: LoadedDoc; seq: number; bytes: Uint8Array; text: string; tag?: string } | undefined;

  // The version of the last document asked about, by its log sequence: every change of a live instance is
  // persisted at once (seq + 1), so an unchanged (doc, seq) is an unchanged version. The writes of one group
  // commit are announced after it, at one seq: one O(version) computation serves them all, where each ack
  // would otherwise copy and compare the whole version (10 KB and more for a long-edited Yjs text).
  const currentVersion = (doc: LoadedDoc) => {
    const last = lastVersion;
    if (last && last.doc === doc && last.seq === doc.seq) return { versionBytes: last.bytes, version: last.text };
    const versionBytes = doc.engine.version(doc.state);
    const version = encodeVersion(versionBytes);
    lastVersion = { doc, seq: doc.seq, bytes: versionBytes, text: version };
    return { versionBytes, version };
  };

  const currentTag = (doc: LoadedDoc) => {
    const { versionBytes } = currentVersion(doc);
    const entry = lastVersion!;
    entry.tag ??= deps.tags.tagOf(doc.handle.id, versionBytes);
    return entry.tag;
  };

  const emit = (handle: DocHandle, delta: Uint8Array, versionBytes: Uint8Array, version: string, origin: "local" | "remote", seq = ++localSeq): Persisted => {
    const { id, kind } = handle;
    feed.emit({ type: "change", id, kind, delta, version, versionBytes, origin, localSeq: seq });
    return { localSeq: seq, version, versionBytes };
  };

  const announce = (doc: LoadedDoc, delta: Uint8Array, origin: "local" | "remote", seq?: number): Persisted => {
    const { versionBytes, version } = currentVersion(doc);
    return emit(doc.handle, delta, versionBytes, version, origin, seq);
  };

  const applyUncounted = (doc: LoadedDoc, delta: Uint8Array, from: "client" | "region") => {
    const result = doc.engine.apply(doc.state, delta, { sizeLimit: from === "region" ? "snapshot" : "delta" });
    doc.state = result.state;
    return result.changed;
  };

  /** Counts a rejection, retires a damaged instance, and rethrows. */
  const rejected = (doc: LoadedDoc, error: unknown): never => {
    counters.rejectedDeltas++;
    if (isConcordError(error) && error.details.damaged === true) slots.retire(doc);
    throw error;
  };

  /** Folds the log into a snapshot, queued behind the appends it covers, so the swap is atomic and ordered. */
  const maybeCompact = (doc: LoadedDoc) => {
    const records = doc.seq - doc.snapshotSeq;
    const bigLog = doc.logBytes >= deps.compactMinLogBytes && doc.logBytes > doc.snapshotBytes;
    if (!bigLog && records < deps.compactMaxLogRecords) return;
    const snapshot = doc.engine.snapshot(doc.state);
    const fromSeq = doc.snapshotSeq;
    doc.snapshotSeq = doc.seq;
    doc.snapshotBytes = snapshot.length;
    doc.logBytes = 0;
    counters.compactions++;
    doc.lastWrite = docs.compact(doc.handle, doc.seq, snapshot, fromSeq);
    // A compaction that conflicted or failed wrote nothing: the log stays, and the next write to the instance
    // (which expects the metadata the compaction would have written) conflicts and reloads it.
    doc.lastWrite.catch(() => undefined);
  };

  /** Appends `delta` to `doc` synchronously; resolves once durable (retried on a conflict) with the instance it is in. */
  const append = (doc: LoadedDoc, delta: Uint8Array, attempt: number): Promise<LoadedDoc> => {
    const seq = ++doc.seq;
    const write = docs.append(doc.handle, seq, delta);
    docs.markChanged(doc.handle, () => versionHash(doc.engine.version(doc.state)));
    doc.lastWrite = write;
    doc.logBytes += delta.length;
    doc.size = doc.engine.sizeEstimate(doc.state);
    slots.cache.resized(doc.handle.id);
    maybeCompact(doc);
    const landed = write.then(() => doc, (error: unknown) => retry(doc, delta, attempt, error));
    const settled = landed.then(() => undefined);
    settled.catch(() => undefined); // its failure is the caller's to report; unawaited, it must not crash the process
    durableOf.set(doc, settled);
    return landed;
  };

  /** After a failed append: retires the instance and, for a conflict, appends again to the document reloaded. */
  const retry = async (doc: LoadedDoc, delta: Uint8Array, attempt: number, error: unknown): Promise<LoadedDoc> => {
    // Its live state holds a delta the store does not (or may not) have.
    slots.retire(doc);
    if (!isConcordError(error, "conflict")) throw error;
    if (attempt >= maxWriteAttempts) {
      throw new ConcordError("unavailable", `a write to "${doc.handle.id}" kept conflicting with other processes (${attempt} attempts)`, { cause: error });
    }
    counters.writeConflicts++;
    return slots.write(doc.handle.id, (fresh) => {
      let changed: boolean;
      try {
        // Validated when it was first applied; applied as a region's delta, it may hold a whole state's worth.
        changed = applyUncounted(fresh, delta, "region");
      } catch (cause) {
        // It builds on an earlier write of the old instance that failed and is not in the store: this write
        // was sound, it cannot be stored now; the caller may retry it as for any unavailable store.
        throw new ConcordError("unavailable", `a write to "${doc.handle.id}" built on an earlier write that failed`, { cause });
      }
      if (changed) return append(fresh, delta, attempt + 1);
      // Already there: the reloaded state holds it, or a write to the new instance does.
      return durable(fresh).then(() => fresh);
    });
  };

  const durable = (doc: LoadedDoc): Promise<void> => durableOf.get(doc) ?? doc.lastWrite;

  return {
    counters,
    currentVersion,
    currentTag,
    nextLocalSeq: () => ++localSeq,

    apply(doc, delta, from = "client") {
      try {
        return applyUncounted(doc, delta, from);
      } catch (error) {
        return rejected(doc, error);
      }
    },

    applyFromRegion(doc, delta) {
      try {
        return { changed: applyUncounted(doc, delta, "region"), delta };
      } catch (rejection) {
        const convertible = isConcordError(rejection, "invalid_update") && rejection.details.damaged !== true &&
          rejection.details.reason !== "missing_dependencies";
        const changes = convertible ? wholeStateChanges(doc.engine, delta, doc.engine.version(doc.state)) : undefined;
        if (changes === undefined) return rejected(doc, rejection);
        try {
          return { changed: applyUncounted(doc, changes, "region"), delta: changes };
        } catch (error) {
          return rejected(doc, error);
        }
      }
    },

    async persist(doc, delta, origin) {
      const landed = append(doc, delta, 1);
      // Sockets relay it and gossip pushes it now ("applied" listeners); the durable event follows with the same
      // delta and local sequence, and only it acknowledges anything (see change-feed.ts).
      const changeSeq = ++localSeq;
      feed.emitApplied(doc.handle.id, () => {
        const { versionBytes, version } = currentVersion(doc);
        const { id, kind } = doc.handle;
        return { type: "change", id, kind, delta, version, versionBytes, origin, localSeq: changeSeq };
      });
      if (!bugs.ackBeforeDurable) return announce(await landed, delta, origin, changeSeq);
      landed.catch(() => undefined);
      return announce(doc, delta, origin, changeSeq);
    },

    durable,

    announceUnpersisted(doc, delta) {
      lastVersion = undefined; // its change took no seq: the cached version would be stale
      announce(doc, delta, "remote");
    },

    announceCreated(doc, origin) {
      announce(doc, doc.engine.snapshot(doc.state), origin);
    },

    announceNew(handle, delta, versionBytes, version) {
      emit(handle, delta, versionBytes, version, "local");
    },

    announceDurable(doc, delta, origin) {
      announce(doc, delta, origin);
    },
  };
}
