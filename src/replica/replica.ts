/**
 * The replica: one region's (or one app's) copy of every document. Writes are
 * validated by the engine, applied, appended to the sealed log through group
 * commit, and acknowledged once durable; then listeners (gossip, subscribers)
 * hear about them. Reads come from a byte-bounded cache of loaded documents.
 *
 * The same class runs in the server, in apps and in the simulator: time,
 * randomness and storage all arrive through ReplicaOptions.
 */
import { openKeyring } from "../crypto/keyring.ts";
import { sodium } from "../crypto/sodium.ts";
import { createEngine } from "../doc/index.ts";
import type { DocEngine, DocKind } from "../doc/engine.ts";
import { docKinds } from "../doc/engine.ts";
import { ConcordError, isConcordError } from "../errors.ts";
import { systemClock, type Clock } from "../runtime/clock.ts";
import { systemRandom } from "../runtime/random.ts";
import { createDocStore, type DocHandle, type DocStore, type StoredDoc } from "../storage/doc-store.ts";
import type { Store } from "../storage/store.ts";
import { createDocCache, type DocCache } from "./doc-cache.ts";
import { checkDocId } from "./doc-id.ts";
import type { ChangeListener, DocChange, DocView, ListOptions, ReplicaOptions, ReplicaStats, WriteAck } from "./types.ts";

interface LoadedDoc {
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

/** Opens a replica over `options.store`, creating the keyring on an empty store. */
export async function openReplica(options: ReplicaOptions): Promise<Replica> {
  const random = options.random ?? systemRandom;
  const keyring = await openKeyring(options.store, options.masterKey, random);
  return new Replica(options, createDocStore(options.store, keyring, random));
}

export class Replica {
  readonly region: string;
  private readonly clock: Clock;
  private readonly store: Store;
  private readonly docs: DocStore;
  private readonly engines: Record<DocKind, DocEngine<unknown>>;
  private readonly cache: DocCache<LoadedDoc>;
  private readonly loading = new Map<string, Promise<LoadedDoc>>();
  private readonly listeners = new Map<string, Set<ChangeListener>>();
  private readonly allListeners = new Set<ChangeListener>();
  private readonly compactMinLogBytes: number;
  private readonly compactMaxLogRecords: number;
  private closed = false;
  private readonly counters = { compactions: 0, rejectedDeltas: 0, listenerErrors: 0 };

  /** Use openReplica(); the constructor assumes an opened keyring. */
  constructor(options: ReplicaOptions, docs: DocStore) {
    this.region = options.region ?? "local";
    this.clock = options.clock ?? systemClock;
    this.store = options.store;
    this.docs = docs;
    const deps = { clock: this.clock, random: options.random ?? systemRandom, limits: options.limits ?? {} };
    this.engines = { yjs: createEngine("yjs", deps), automerge: createEngine("automerge", deps) };
    this.cache = createDocCache<LoadedDoc>(options.cacheMaxBytes ?? 256 * 1024 * 1024);
    this.compactMinLogBytes = options.compactMinLogBytes ?? 64 * 1024;
    this.compactMaxLogRecords = options.compactMaxLogRecords ?? 4096;
  }

  /** Creates an empty document. ConcordError "exists" if it is there, "deleted" if it was shredded. */
  async create(id: string, kind: DocKind): Promise<DocView> {
    this.checkOpen();
    checkDocId(id);
    if (!docKinds.includes(kind)) {
      throw new ConcordError("invalid_argument", `a document kind is one of ${docKinds.join(", ")} (got ${String(kind)})`);
    }
    const handle = await this.docs.create(id, kind);
    const engine = this.engines[kind];
    const state = engine.create();
    const doc: LoadedDoc = {
      handle, engine, state, seq: 0, snapshotSeq: 0, snapshotBytes: 0, logBytes: 0,
      lastWrite: Promise.resolve(), size: engine.sizeEstimate(state),
    };
    this.cache.set(id, doc);
    return this.view(doc);
  }

  /**
   * Applies a binary delta (a Yjs update, Automerge changes) and resolves once
   * it is durable. A rejected delta (ConcordError "invalid_update" / "too_large")
   * changes nothing. Applying a delta that is already there is acknowledged
   * with `changed: false`.
   */
  async update(id: string, delta: Uint8Array): Promise<WriteAck> {
    const doc = await this.loaded(id);
    if (!(delta instanceof Uint8Array)) throw new ConcordError("invalid_update", "a delta is a Uint8Array");
    let result: { state: unknown; changed: boolean };
    try {
      result = doc.engine.apply(doc.state, delta);
    } catch (error) {
      this.counters.rejectedDeltas++;
      if (isConcordError(error) && error.details.damaged === true) this.cache.delete(id);
      throw error;
    }
    doc.state = result.state;
    if (!result.changed) {
      await doc.lastWrite; // the content may still be on its way to disk
      return { id, version: this.versionOf(doc), changed: false };
    }
    return this.persist(doc, delta);
  }

  /**
   * Edits a document in place and persists the resulting delta. `edit` gets a
   * Y.Doc for Yjs documents and a mutable draft for Automerge documents.
   */
  async change<D = any>(id: string, edit: (doc: D) => void): Promise<WriteAck> {
    const doc = await this.loaded(id);
    const { state, delta } = doc.engine.change(doc.state, edit);
    doc.state = state;
    if (delta.length === 0) {
      await doc.lastWrite;
      return { id, version: this.versionOf(doc), changed: false };
    }
    return this.persist(doc, delta);
  }

  /** The document's canonical JSON value and version. */
  async read(id: string): Promise<DocView> {
    return this.view(await this.loaded(id));
  }

  /** The full state as one binary delta (Yjs update / Automerge save). */
  async encodeState(id: string): Promise<Uint8Array> {
    const doc = await this.loaded(id);
    return doc.engine.snapshot(doc.state);
  }

  /** What a replica at `version` (from a DocView or WriteAck) lacks, as one binary delta. */
  async diff(id: string, version: string): Promise<Uint8Array> {
    const doc = await this.loaded(id);
    return doc.engine.diff(doc.state, decodeVersion(version));
  }

  /** Calls `listener` after every durable change of `id` (local or replicated). Returns an unsubscribe function. */
  subscribe(id: string, listener: ChangeListener): () => void {
    checkDocId(id);
    let set = this.listeners.get(id);
    if (!set) this.listeners.set(id, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(id);
    };
  }

  /** Calls `listener` after every durable change of any document. */
  subscribeAll(listener: ChangeListener): () => void {
    this.allListeners.add(listener);
    return () => void this.allListeners.delete(listener);
  }

  /** Document ids in ascending order. Reads every document's sealed metadata: O(documents). */
  async *list(options: ListOptions = {}): AsyncIterable<string> {
    this.checkOpen();
    const prefix = options.prefix ?? "";
    const ids: string[] = [];
    for await (const { id } of this.docs.list()) {
      if (id.startsWith(prefix) && (options.after === undefined || id > options.after)) ids.push(id);
    }
    ids.sort();
    yield* ids.slice(0, options.limit ?? ids.length);
  }

  /**
   * Shreds a document: its data key is destroyed, so its records can never be
   * opened again, and a tombstone keeps it from being recreated. False if absent.
   */
  async delete(id: string): Promise<boolean> {
    this.checkOpen();
    checkDocId(id);
    const cached = this.cache.get(id);
    this.cache.delete(id);
    if (cached) await cached.lastWrite.catch(() => undefined);
    return this.docs.delete(id, this.clock.now());
  }

  stats(): ReplicaStats {
    return {
      region: this.region,
      cachedDocs: this.cache.count,
      cacheBytes: this.cache.bytes,
      cacheEvictions: this.cache.evictions,
      storeBatches: this.docs.stats.batches,
      storeEntries: this.docs.stats.entries,
      ...this.counters,
    };
  }

  /** Waits for queued writes, then closes the store. Further calls throw "closed". */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.docs.drain();
    await this.store.close();
  }

  private async persist(doc: LoadedDoc, delta: Uint8Array): Promise<WriteAck> {
    const seq = ++doc.seq;
    const write = this.docs.append(doc.handle, seq, delta);
    doc.lastWrite = write;
    doc.logBytes += delta.length;
    doc.size = doc.engine.sizeEstimate(doc.state);
    this.cache.resized(doc.handle.id);
    const version = this.versionOf(doc);
    this.maybeCompact(doc);
    await write;
    this.emit({ id: doc.handle.id, kind: doc.handle.kind, delta, version });
    return { id: doc.handle.id, version, changed: true };
  }

  /** Folds the log into a snapshot, queued behind the appends it covers, so the swap is atomic and ordered. */
  private maybeCompact(doc: LoadedDoc): void {
    const records = doc.seq - doc.snapshotSeq;
    const bigLog = doc.logBytes >= this.compactMinLogBytes && doc.logBytes > doc.snapshotBytes;
    if (!bigLog && records < this.compactMaxLogRecords) return;
    const snapshot = doc.engine.snapshot(doc.state);
    const fromSeq = doc.snapshotSeq;
    doc.snapshotSeq = doc.seq;
    doc.snapshotBytes = snapshot.length;
    doc.logBytes = 0;
    this.counters.compactions++;
    doc.lastWrite = this.docs.compact(doc.handle, doc.seq, snapshot, fromSeq);
    // A failed compaction fails the group commit, which every later write reports; nothing to do here.
    doc.lastWrite.catch(() => undefined);
  }

  private emit(change: DocChange): void {
    const call = (listener: ChangeListener) => {
      try {
        listener(change);
      } catch {
        this.counters.listenerErrors++; // a broken listener must not fail a durable write
      }
    };
    this.listeners.get(change.id)?.forEach(call);
    this.allListeners.forEach(call);
  }

  private view(doc: LoadedDoc): DocView {
    const { id, kind } = doc.handle;
    return { id, kind, version: this.versionOf(doc), value: doc.engine.toJSON(doc.state) };
  }

  private versionOf(doc: LoadedDoc): string {
    return encodeVersion(doc.engine.version(doc.state));
  }

  private checkOpen(): void {
    if (this.closed) throw new ConcordError("closed", `replica ${this.region} is closed`);
  }

  /**
   * The loaded document, from the cache or the store. ConcordError "not_found" / "deleted".
   * The result is the cached instance at the moment this resolves: callers use it
   * synchronously, so two instances of one document never assign sequence numbers.
   */
  private async loaded(id: string): Promise<LoadedDoc> {
    this.checkOpen();
    checkDocId(id);
    for (;;) {
      const cached = this.cache.get(id);
      if (cached) return cached;
      let loading = this.loading.get(id);
      if (!loading) {
        loading = this.load(id).finally(() => this.loading.delete(id));
        this.loading.set(id, loading);
      }
      const doc = await loading;
      // Evicted (or deleted) while this caller waited: go round and use the current instance.
      if (this.cache.peek(id) === doc) return doc;
      this.checkOpen();
    }
  }

  private async load(id: string): Promise<LoadedDoc> {
    const stored = await this.docs.load(id);
    if (!stored) throw new ConcordError("not_found", `document "${id}" does not exist`);
    const doc = this.fromStored(stored);
    this.cache.set(id, doc);
    return doc;
  }

  private fromStored(stored: StoredDoc): LoadedDoc {
    const engine = this.engines[stored.kind];
    let state: unknown;
    try {
      state = stored.snapshot ? engine.load(stored.snapshot) : engine.create();
      for (const { delta } of stored.log) state = engine.apply(state, delta).state;
    } catch (cause) {
      if (isConcordError(cause, "invalid_update") || isConcordError(cause, "too_large")) {
        throw new ConcordError("corrupt_record", `document "${stored.id}" holds data its engine rejects`, { cause });
      }
      throw cause;
    }
    const last = stored.log.at(-1)?.seq ?? stored.snapshotSeq;
    return {
      handle: stored, engine, state, seq: last, snapshotSeq: stored.snapshotSeq,
      snapshotBytes: stored.snapshot?.length ?? 0,
      logBytes: stored.log.reduce((n, r) => n + r.delta.length, 0),
      lastWrite: Promise.resolve(), size: engine.sizeEstimate(state),
    };
  }
}

export function encodeVersion(version: Uint8Array): string {
  return sodium().to_base64(version, sodium().base64_variants.URLSAFE_NO_PADDING);
}

export function decodeVersion(version: string): Uint8Array {
  try {
    return sodium().from_base64(version, sodium().base64_variants.URLSAFE_NO_PADDING);
  } catch (cause) {
    throw new ConcordError("invalid_argument", "a version is a base64url string from a read or an ack", { cause });
  }
}
