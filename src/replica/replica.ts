/**
 * The replica: one region's (or one app's) copy of every document. Writes are
 * validated by the engine, applied, appended to the sealed log through group
 * commit, and acknowledged once durable; then observers (gossip, subscribers)
 * hear about them. Reads come from a byte-bounded cache of loaded documents.
 *
 * The same class runs in the server, in apps and in the simulator: time,
 * randomness and storage all arrive through ReplicaOptions.
 */
import { openKeyring } from "../crypto/keyring.ts";
import { createEngine } from "../doc/index.ts";
import type { DocEngine, DocKind } from "../doc/engine.ts";
import { docKinds } from "../doc/engine.ts";
import { ConcordError, isConcordError } from "../errors.ts";
import { systemClock, type Clock } from "../runtime/clock.ts";
import { systemRandom } from "../runtime/random.ts";
import { createDocStore, type DocStore } from "../storage/doc-store.ts";
import type { Store } from "../storage/store.ts";
import { ChangeFeed } from "./change-feed.ts";
import { createDocCache, type DocCache } from "./doc-cache.ts";
import { checkDocId } from "./doc-id.ts";
import { docFromStore, freshDoc, type LoadedDoc } from "./loaded-doc.ts";
import type {
  ChangeListener, DocStatus, DocView, InjectedBugs, ListOptions, ReadOptions, ReplicaEvent, ReplicaOptions,
  ReplicaStats, Replication, WriteAck, WriteOptions,
} from "./types.ts";
import { decodeVersion, deletedVersionHash, encodeVersion, versionHash } from "./version-token.ts";

export { decodeVersion, encodeVersion } from "./version-token.ts";

/** A write made durable: its place in this replica's change order and the version after it. */
interface Persisted {
  localSeq: number;
  version: string;
}

/** Opens a replica over `options.store`, creating the keyring on an empty store. */
export async function openReplica(options: ReplicaOptions): Promise<Replica> {
  const random = options.random ?? systemRandom;
  const keyring = await openKeyring(options.store, options.masterKey, random);
  const docs = createDocStore(options.store, keyring, random);
  return new Replica(options, docs, await docs.nextEpoch());
}

export class Replica {
  readonly region: string;
  /** Grows on every open of this store: orders this run's frames after all earlier runs'. */
  readonly epoch: number;
  private readonly clock: Clock;
  private readonly store: Store;
  private readonly docs: DocStore;
  private readonly engines: Record<DocKind, DocEngine<unknown>>;
  private readonly cache: DocCache<LoadedDoc>;
  private readonly loading = new Map<string, Promise<LoadedDoc>>();
  private readonly feed = new ChangeFeed();
  private readonly compactMinLogBytes: number;
  private readonly compactMaxLogRecords: number;
  private replication: Replication | undefined;
  private readonly bugs: InjectedBugs;
  private localSeq = 0;
  private lastVersion: { doc: LoadedDoc; bytes: Uint8Array; text: string } | undefined;
  private closed = false;
  private readonly counters = { compactions: 0, rejectedDeltas: 0 };

  /** Use openReplica(); the constructor assumes an opened keyring. */
  constructor(options: ReplicaOptions, docs: DocStore, epoch: number) {
    this.region = options.region ?? "local";
    this.epoch = epoch;
    this.clock = options.clock ?? systemClock;
    this.store = options.store;
    this.docs = docs;
    const deps = { clock: this.clock, random: options.random ?? systemRandom, limits: options.limits ?? {} };
    this.engines = { yjs: createEngine("yjs", deps), automerge: createEngine("automerge", deps) };
    this.cache = createDocCache<LoadedDoc>(options.cacheMaxBytes ?? 256 * 1024 * 1024);
    this.compactMinLogBytes = options.compactMinLogBytes ?? 64 * 1024;
    this.compactMaxLogRecords = options.compactMaxLogRecords ?? 4096;
    this.bugs = options.bugs ?? {};
  }

  /** Creates an empty document. ConcordError "exists" if it is there, "deleted" if it was shredded. */
  async create(id: string, kind: DocKind): Promise<DocView> {
    return this.createDoc(id, kind, "local");
  }

  private async createDoc(id: string, kind: DocKind, origin: "local" | "remote"): Promise<DocView> {
    this.checkOpen();
    checkDocId(id);
    if (!docKinds.includes(kind)) {
      throw new ConcordError("invalid_argument", `a document kind is one of ${docKinds.join(", ")} (got ${String(kind)})`);
    }
    const engine = this.engines[kind];
    const empty = engine.create();
    const doc = freshDoc(await this.docs.create(id, kind, versionHash(engine.version(empty))), engine, empty);
    this.cache.set(id, doc);
    // Announced as a change carrying the empty state, so other regions learn of the document before its first write.
    const versionBytes = doc.engine.version(doc.state);
    this.feed.emit({
      type: "change", id, kind, delta: doc.engine.snapshot(doc.state), version: encodeVersion(versionBytes), versionBytes,
      origin, localSeq: ++this.localSeq,
    });
    return this.view(doc);
  }

  /**
   * Applies a binary delta (a Yjs update, Automerge changes) and resolves once
   * it is durable here and on as many regions as `options.durability` asks. A
   * rejected delta (ConcordError "invalid_update" / "too_large") changes
   * nothing. A delta that is already there is acknowledged with `changed: false`.
   */
  async update(id: string, delta: Uint8Array, options: WriteOptions = {}): Promise<WriteAck> {
    if (!(delta instanceof Uint8Array)) throw new ConcordError("invalid_update", "a delta is a Uint8Array");
    const doc = await this.loaded(id);
    const changed = this.applyDelta(doc, delta);
    return this.acknowledge(doc, changed ? await this.persist(doc, delta, "local") : undefined, options);
  }

  /**
   * Edits a document in place and persists the resulting delta. `edit` gets a
   * Y.Doc for Yjs documents and a mutable draft for Automerge documents.
   */
  async change<D = any>(id: string, edit: (doc: D) => void, options: WriteOptions = {}): Promise<WriteAck> {
    const doc = await this.loaded(id);
    let result: { state: unknown; delta: Uint8Array };
    try {
      result = doc.engine.change(doc.state, edit);
    } catch (error) {
      // A rejected edit may already be in the live document: drop it, the store holds the truth.
      if (isConcordError(error) && error.details.damaged === true) this.cache.delete(id);
      throw error;
    }
    const { state, delta } = result;
    doc.state = state;
    return this.acknowledge(doc, delta.length > 0 ? await this.persist(doc, delta, "local") : undefined, options);
  }

  /**
   * The document's canonical JSON value and version. With `after` (a token
   * from a WriteAck), waits until this replica holds that write, or fails
   * with "not_caught_up" after `timeoutMs`.
   */
  async read(id: string, options: ReadOptions = {}): Promise<DocView> {
    if (options.after === undefined) return this.view(await this.loaded(id));
    const version = decodeVersion(options.after);
    const caughtUp = async () => {
      const doc = await this.loaded(id).catch((error: unknown) => {
        if (isConcordError(error, "not_found")) return undefined; // it may still be on its way here
        throw error;
      });
      return doc && doc.engine.includes(doc.state, version) ? this.view(doc) : undefined;
    };
    return this.feed.waitFor(this.clock, id, caughtUp, options.timeoutMs ?? 5000, () =>
      new ConcordError("not_caught_up", `region ${this.region} has not caught up with that write of "${id}" yet`, {
        details: { retryAfterMs: 1000 },
      }));
  }

  /** The full state as one binary delta (Yjs update / Automerge save). */
  async encodeState(id: string): Promise<Uint8Array> {
    const doc = await this.loaded(id);
    return doc.engine.snapshot(doc.state);
  }

  /** What a replica at `version` (from a DocView or WriteAck) lacks, as one binary delta. */
  async diff(id: string, version: string | Uint8Array): Promise<Uint8Array> {
    const doc = await this.loaded(id);
    return doc.engine.diff(doc.state, typeof version === "string" ? decodeVersion(version) : version);
  }

  /** Calls `listener` after every durable change of `id` (local or replicated). Returns an unsubscribe function. */
  subscribe(id: string, listener: ChangeListener): () => void {
    checkDocId(id);
    return this.feed.subscribe(id, listener);
  }

  /** Calls `listener` after every durable change of any document. */
  subscribeAll(listener: ChangeListener): () => void {
    return this.feed.subscribeAll(listener);
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
   * opened again, and a tombstone keeps it from coming back. False if absent.
   */
  async delete(id: string): Promise<boolean> {
    return this.shred(id, "local");
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
      listenerErrors: this.feed.listenerErrors,
      ...(this.replication ? { replication: this.replication.stats() } : {}),
    };
  }

  /** Waits for queued writes, then closes the store. Further calls throw "closed". */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.docs.drain();
    await this.store.close();
  }

  // ---- for replication (src/gossip) ----

  /** Lets writes wait for other regions, and adds replication figures to stats(). */
  attachReplication(replication: Replication): void {
    this.replication = replication;
  }

  /** Every durable change and deletion, with the local sequence gossip tracks them by. */
  observe(observer: (event: ReplicaEvent) => void): () => void {
    return this.feed.observe(observer);
  }

  /**
   * Applies a delta from another region, creating the document if it is new
   * here. Validated like a client delta (a broken region must not poison this
   * one); resolves once durable. False when the document was shredded here.
   */
  async applyRemote(id: string, kind: DocKind, delta: Uint8Array): Promise<boolean> {
    this.checkOpen();
    let doc: LoadedDoc;
    try {
      doc = await this.loaded(id);
    } catch (error) {
      if (isConcordError(error, "deleted")) return false;
      if (!isConcordError(error, "not_found")) throw error;
      await this.createDoc(id, kind, "remote").catch((e: unknown) => {
        if (!isConcordError(e, "exists") && !isConcordError(e, "deleted")) throw e;
      });
      return this.applyRemote(id, kind, delta);
    }
    if (doc.handle.kind !== kind) {
      throw new ConcordError("invalid_update", `document "${id}" is ${doc.handle.kind} here, not ${kind}`);
    }
    if (!this.applyDelta(doc, delta, "region")) await doc.lastWrite;
    else if (this.bugs.skipRemotePersist) this.announceUnpersisted(doc, delta);
    else await this.persist(doc, delta, "remote");
    return true;
  }

  /** Applies a deletion from another region. */
  async deleteRemote(id: string): Promise<void> {
    await this.shred(id, "remote");
  }

  /** What this replica holds of `id`: absent, deleted, or present at a version. */
  async status(id: string): Promise<DocStatus> {
    try {
      const doc = await this.loaded(id);
      return { state: "present", kind: doc.handle.kind, version: doc.engine.version(doc.state) };
    } catch (error) {
      if (isConcordError(error, "not_found")) return { state: "absent" };
      if (isConcordError(error, "deleted")) return { state: "deleted" };
      throw error;
    }
  }

  /**
   * Every document's and tombstone's version hash, for building the
   * anti-entropy tree: read from the version records, loading no document.
   */
  async *inventory(): AsyncIterable<{ id: string; versionHash: Uint8Array }> {
    yield* this.docs.versions();
    for await (const id of this.docs.tombstones()) yield { id, versionHash: deletedVersionHash() };
  }

  // ---- internals ----

  /**
   * Applies a validated delta to the live document. Returns whether it changed
   * anything. Deltas from other regions may be whole states (anti-entropy
   * diffs), so they are bounded by the snapshot limit, not the client one.
   */
  private applyDelta(doc: LoadedDoc, delta: Uint8Array, from: "client" | "region" = "client"): boolean {
    try {
      const result = doc.engine.apply(doc.state, delta, { sizeLimit: from === "region" ? "snapshot" : "delta" });
      doc.state = result.state;
      return result.changed;
    } catch (error) {
      this.counters.rejectedDeltas++;
      if (isConcordError(error) && error.details.damaged === true) this.cache.delete(doc.handle.id);
      throw error;
    }
  }

  /**
   * Appends the delta and resolves once it is durable. The version reported is
   * taken then, not at apply time: it includes this write (and perhaps others
   * of the same group commit), and one computation serves the whole batch.
   */
  private async persist(doc: LoadedDoc, delta: Uint8Array, origin: "local" | "remote"): Promise<Persisted> {
    const seq = ++doc.seq;
    const write = this.docs.append(doc.handle, seq, delta);
    this.docs.markChanged(doc.handle, () => versionHash(doc.engine.version(doc.state)));
    doc.lastWrite = write;
    doc.logBytes += delta.length;
    doc.size = doc.engine.sizeEstimate(doc.state);
    this.cache.resized(doc.handle.id);
    this.maybeCompact(doc);
    if (this.bugs.ackBeforeDurable) write.catch(() => undefined);
    else await write;
    const localSeq = ++this.localSeq;
    const { id, kind } = doc.handle;
    const { versionBytes, version } = this.currentVersion(doc);
    this.feed.emit({ type: "change", id, kind, delta, version, versionBytes, origin, localSeq });
    return { localSeq, version };
  }

  /** Injected bug skipRemotePersist: observers hear of a change the store never got. */
  private announceUnpersisted(doc: LoadedDoc, delta: Uint8Array): void {
    const { versionBytes, version } = this.currentVersion(doc);
    const { id, kind } = doc.handle;
    this.feed.emit({ type: "change", id, kind, delta, version, versionBytes, origin: "remote", localSeq: ++this.localSeq });
  }

  /** The document's version, encoded once per state: the engine caches the bytes, this the string. */
  private currentVersion(doc: LoadedDoc): { versionBytes: Uint8Array; version: string } {
    const versionBytes = doc.engine.version(doc.state);
    const last = this.lastVersion;
    if (last && last.doc === doc && last.bytes.length === versionBytes.length && last.bytes.every((b, i) => b === versionBytes[i])) {
      return { versionBytes, version: last.text };
    }
    const version = encodeVersion(versionBytes);
    this.lastVersion = { doc, bytes: versionBytes, text: version };
    return { versionBytes, version };
  }

  private async acknowledge(doc: LoadedDoc, persisted: Persisted | undefined, options: WriteOptions): Promise<WriteAck> {
    if (persisted === undefined) await doc.lastWrite; // nothing new, but it may still be on its way to disk
    const localSeq = persisted?.localSeq;
    const version = persisted?.version ?? this.currentVersion(doc).version;
    const ack = { id: doc.handle.id, version, token: version, changed: localSeq !== undefined, replicatedTo: 1 };
    const durability = options.durability ?? "local";
    if (durability === "local" || !this.replication || localSeq === undefined) return ack;
    const regions = this.replication.regions;
    const needed = durability === "all" ? regions : Math.floor(regions / 2) + 1;
    ack.replicatedTo = await this.replication.waitForReplicas(localSeq, needed, options.timeoutMs ?? 5000);
    return ack;
  }

  private async shred(id: string, origin: "local" | "remote"): Promise<boolean> {
    this.checkOpen();
    checkDocId(id);
    const cached = this.cache.peek(id);
    this.cache.delete(id);
    if (cached) await cached.lastWrite.catch(() => undefined);
    const deleted = await this.docs.delete(id, this.clock.now(), origin === "remote");
    if (deleted || origin === "remote") {
      this.feed.emit({ type: "delete", id, origin, localSeq: ++this.localSeq });
    }
    return deleted;
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

  private view(doc: LoadedDoc): DocView {
    const { id, kind } = doc.handle;
    return { id, kind, version: encodeVersion(doc.engine.version(doc.state)), value: doc.engine.toJSON(doc.state) };
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
    const doc = docFromStore(stored, this.engines[stored.kind]);
    this.cache.set(id, doc);
    return doc;
  }
}
