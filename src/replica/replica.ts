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
import { DocQuarantine } from "./doc-quarantine.ts";
import { createEngine } from "../doc/index.ts";
import type { DocEngine, DocKind } from "../doc/engine.ts";
import { docKinds } from "../doc/engine.ts";
import { ConcordError, isConcordError } from "../errors.ts";
import type { JsonOp } from "../doc/json-ops.ts";
import { parseInitialShape } from "../doc/initial-shape.ts";
import { systemClock, type Clock } from "../runtime/clock.ts";
import { systemRandom } from "../runtime/random.ts";
import { createDocStore, type DocStore } from "../storage/doc-store.ts";
import type { Store } from "../storage/store.ts";
import { ChangeFeed, type ChangeMoment } from "./change-feed.ts";
import { ClientPending, lacksPredecessors } from "./client-pending.ts";
import { checkDocId, checkNewDocId } from "./doc-id.ts";
import { createMany, type CreateManyDeps } from "./create-many.ts";
import { createDocSlots, type DocSlots } from "./doc-slots.ts";
import { repairDoc } from "./doc-repair.ts";
import { createDocWriter, type DocWriter, type Persisted } from "./doc-writer.ts";
import type { LoadedDoc } from "./loaded-doc.ts";
import { applyRemote, applyRemoteStaged, type StagedApply } from "./remote-apply.ts";
import { readAfter } from "./read-after.ts";
import { shredDoc } from "./shred.ts";
import { dependencyCheck, lazyWriteToken } from "./write-token.ts";
import { checkWriteCondition, parseWriteCondition, type CurrentVersion, type WriteCondition } from "./write-condition.ts";
import { isVersionTag, lazyEtag, VersionTags } from "./version-tag.ts";
import { refreshFromStore } from "./store-refresh.ts";
import type {
  ChangeListener, CreateItem, CreateOptions, CreateResult, DeleteOptions, DocHead, DocStatus, DocView, InjectedBugs, InternalReplicaOptions, ListOptions, ReadOptions, ReplicaEvent,
  ReplicaOptions, ReplicaStats, Replication, WriteAck, WriteOptions,
} from "./types.ts";
import { decodeVersion, deletedVersionHash, encodeVersion, unknownVersionHash, versionHash } from "./version-token.ts";

export { decodeVersion, encodeVersion } from "./version-token.ts";

/** Bytes of client deltas that may wait for their predecessors at once (see client-pending.ts). */
const maxPendingClientBytes = 16 << 20;

/** Bytes of recently handed-out versions kept so `diff` can resolve their tags (see version-tag.ts). */
const maxRememberedVersionBytes = 8 << 20;

/** Engine traps on one document (each one rebuilds the engine and flips /readyz) after which a document is quarantined. */
export const quarantineAfterTraps = 3;

/**
 * Opens a replica over `options.store`, creating the keyring on an empty store.
 * ConcordError "wrong_key" when the master key does not open the store's keyring.
 * The replica owns the store from this call on: it closes it on close(), and
 * opening closes it when it fails (a wrong key, say), so a store that holds a
 * lock (IndexedDB's, a data directory's) does not keep it.
 */
export async function openReplica(options: ReplicaOptions): Promise<Replica> {
  // Injected defects never reach a replica through the public API, whatever an untyped caller passes.
  const { bugs: _never, ...publicOptions } = options as InternalReplicaOptions;
  return openInternalReplica(publicOptions);
}

/** openReplica with what only the simulator and tests set (InjectedBugs); see src/internal.ts. */
export async function openInternalReplica(options: InternalReplicaOptions): Promise<Replica> {
  try {
    const random = options.random ?? systemRandom;
    const keyring = await openKeyring(options.store, options.masterKey, random);
    const docs = createDocStore(options.store, keyring, random, {
      clock: options.clock ?? systemClock, skipChainCheck: options.bugs?.serveRolledBackTail ?? false,
    });
    return new Replica(options, docs, await docs.nextEpoch());
  } catch (error) {
    await options.store?.close().catch(() => undefined);
    throw error;
  }
}

/**
 * One replica. Members tagged internal (in their JSDoc) are the hooks replication (src/gossip) and
 * the server use; they are left out of the package's declarations (src/internal.ts).
 */
export class Replica {
  readonly region: string;
  /** @internal Grows on every open of this store: orders this run's frames after all earlier runs'. */
  readonly epoch: number;
  private readonly clock: Clock;
  private readonly store: Store;
  private readonly docs: DocStore;
  private readonly engines: Record<DocKind, DocEngine<unknown>>;
  private readonly slots: DocSlots;
  private readonly writer: DocWriter;
  private readonly feed = new ChangeFeed();
  private readonly pending: ClientPending;
  private replication: Replication | undefined;
  private readonly bugs: InjectedBugs;
  private closed = false;
  private docsRepaired = 0;
  private scrubCursor: AsyncIterator<{ id: string }> | undefined;
  private readonly emptyStates: CreateManyDeps["emptyStates"] = new Map();
  private readonly tags = new VersionTags({ maxBytes: maxRememberedVersionBytes });
  /** Documents that trapped their engine this many times are refused (see doc-quarantine.ts). */
  private readonly quarantine = new DocQuarantine(quarantineAfterTraps);

  /** @internal Use openReplica(); the constructor assumes an opened keyring. */
  constructor(options: InternalReplicaOptions, docs: DocStore, epoch: number) {
    this.region = options.region ?? "local";
    this.epoch = epoch;
    this.clock = options.clock ?? systemClock;
    this.store = options.store;
    this.docs = docs;
    const deps = {
      clock: this.clock, random: options.random ?? systemRandom, limits: options.limits ?? {},
      ...(options.changeVerifier ? { changeVerifier: options.changeVerifier } : {}),
    };
    this.engines = { yjs: createEngine("yjs", deps), automerge: createEngine("automerge", deps) };
    this.slots = createDocSlots({
      docs, engines: this.engines, cacheMaxBytes: options.cacheMaxBytes ?? 256 * 1024 * 1024, checkOpen: () => this.checkOpen(),
      quarantine: this.quarantine,
    });
    this.bugs = options.bugs ?? {};
    this.pending = new ClientPending({ clock: this.clock, feed: this.feed, maxBytes: maxPendingClientBytes });
    this.writer = createDocWriter({
      docs, slots: this.slots, feed: this.feed, bugs: this.bugs, tags: this.tags,
      compactMinLogBytes: options.compactMinLogBytes ?? 64 * 1024,
      compactMaxLogRecords: options.compactMaxLogRecords ?? 4096,
    });
  }

  /**
   * Creates a document, empty or with the initial shape `options.init` (a
   * JSON object such as `{ items: [], meta: {} }`), which every region
   * applies with the same change: two regions creating the document at once
   * with one shape hold one document. ConcordError "exists" if it is there,
   * "deleted" if it was shredded, "invalid_argument" for a bad shape or an
   * id reserved for kind conflicts (see doc-id.ts).
   */
  async create(id: string, kind: DocKind, options: CreateOptions = {}): Promise<DocView> {
    this.checkOpen();
    checkNewDocId(id);
    if (!docKinds.includes(kind)) {
      throw new ConcordError("invalid_argument", `a document kind is one of ${docKinds.join(", ")} (got ${String(kind)})`);
    }
    const init = options.init === undefined ? undefined : parseInitialShape(options.init);
    if (init && Object.keys(init).length > 0) {
      // With its shape in the same store write (see create-many.ts): no crash leaves it without one.
      const [result] = await this.createMany([{ id, kind, init }]);
      if (!result!.ok) throw result!.error;
      return this.view(await this.loaded(id));
    }
    // Announced as a change carrying the empty state, so other regions learn of the document before its first write.
    const doc = await this.slots.create(id, kind, (created) => this.writer.announceCreated(created, "local"));
    return this.view(doc);
  }

  /**
   * Creates many documents in one store write (one durable write for all,
   * where create() waits for one per document). Results are per item, in order: `ok` with
   * the version, or the item's ConcordError ("invalid_argument" for a bad
   * id, kind or shape or an id given twice, "exists", "deleted"), which keeps
   * out that item only. Throws only when the store write fails (then none is
   * created). The documents are not cached: each loads on first use.
   */
  async createMany(items: readonly CreateItem[]): Promise<CreateResult[]> {
    this.checkOpen();
    if (!Array.isArray(items)) throw new ConcordError("invalid_argument", "createMany takes an array of { id, kind, init? }");
    return createMany({ slots: this.slots, writer: this.writer, engines: this.engines, emptyStates: this.emptyStates }, items);
  }

  /**
   * Applies a binary delta (a Yjs update, Automerge changes) and resolves once
   * it is durable here and on as many regions as `options.durability` asks. A
   * rejected delta (ConcordError "invalid_update" / "too_large") changes
   * nothing. A delta that is already there is acknowledged with `changed: false`.
   * A delta sent before the updates it builds on (a writer with several in
   * flight) waits for them, up to `options.timeoutMs` (default 5 s; 0: no
   * wait), and is then applied and acknowledged like any other; if they
   * never come it is refused ("invalid_update", reason "missing_dependencies").
   * With `options.ifVersion`, applies only if the document is at that version
   * here; else "precondition_failed" and nothing changes (see WriteOptions).
   */
  async update(id: string, delta: Uint8Array, options: WriteOptions = {}): Promise<WriteAck> {
    if (!(delta instanceof Uint8Array)) throw new ConcordError("invalid_update", "a delta is a Uint8Array");
    const condition = parseWriteCondition(options.ifVersion);
    await this.prepare(id, delta);
    const apply = () => this.writeTo(id, (doc) => {
      checkWriteCondition(condition, id, this.currentOf(doc)); // in the same synchronous step as the apply
      return { doc, persisted: this.writer.apply(doc, delta) ? this.writer.persist(doc, delta, "local") : undefined };
    });
    let applied: Awaited<ReturnType<typeof apply>>;
    try {
      applied = await apply();
    } catch (error) {
      const waitMs = options.timeoutMs ?? 5000;
      // Under a condition it cannot wait: the predecessors it waits for would move the version.
      if (!lacksPredecessors(error) || waitMs <= 0 || condition !== undefined) throw error;
      // Sent before the updates it builds on (a pipelining writer): it waits for them (see client-pending.ts).
      const cached = this.slots.cache.peek(id);
      const check = cached && dependencyCheck(cached.handle.kind, delta);
      const worthTrying = () => {
        const live = this.slots.cache.peek(id);
        return !check || live?.handle.kind !== cached!.handle.kind || check(live.state);
      };
      applied = await this.pending.park(id, delta.length, error as ConcordError, waitMs, apply, worthTrying);
    }
    this.pending.kick(id); // a delta waiting on this one may apply now
    return this.acknowledge(applied.doc, await applied.persisted, options, delta);
  }

  /**
   * Edits a document in place and persists the resulting delta. `edit` gets a
   * Y.Doc for Yjs documents and a mutable draft for Automerge documents: name
   * the type your edit expects, `(doc: Y.Doc) => ...` or `(doc: Tasks) => ...`
   * (unannotated, `doc` is `unknown`).
   * Containers an edit creates (`doc.items ??= []`) are new objects that a
   * concurrent creation elsewhere competes with, and one side's content is
   * lost: create them in the document's initial shape (`create(id, kind, { init })`)
   * or through `patch`, which creates them the same way in every region.
   * `options.ifVersion` makes it conditional, as for update().
   */
  async change<D = unknown>(id: string, edit: (doc: D) => void, options: WriteOptions = {}): Promise<WriteAck> {
    return this.edit(id, (engine, state) => engine.change(state, edit), options);
  }

  /**
   * Applies JSON operations (see src/doc/json-ops.ts) as one change. Containers
   * the ops need and the document lacks (maps on a path, the list of a push,
   * the text of insertText, the counter of increment) are created identically
   * in every region, so concurrent first writes into them all survive.
   * ConcordError "invalid_argument" names the first op that does not fit; nothing changes then.
   * `options.ifVersion` makes it conditional, as for update().
   */
  async patch(id: string, ops: JsonOp[], options: WriteOptions = {}): Promise<WriteAck> {
    const scope = { docId: id, ...(this.bugs.racyContainerCreate ? { racy: true } : {}) };
    return this.edit(id, (engine, state) => engine.applyOps(state, ops, scope), options);
  }

  private async edit(
    id: string, run: (engine: DocEngine<unknown>, state: unknown) => { state: unknown; delta: Uint8Array }, options: WriteOptions,
  ): Promise<WriteAck> {
    let delta: Uint8Array | undefined;
    const condition = parseWriteCondition(options.ifVersion);
    const { doc, persisted } = await this.writeTo(id, (doc) => {
      checkWriteCondition(condition, id, this.currentOf(doc)); // in the same synchronous step as the edit
      let result: { state: unknown; delta: Uint8Array };
      try {
        result = run(doc.engine, doc.state);
      } catch (error) {
        // A rejected edit may already be in the live document: drop it, the store holds the truth.
        if (isConcordError(error) && error.details.damaged === true) this.slots.retire(doc);
        throw error;
      }
      doc.state = result.state;
      delta = result.delta.length > 0 ? result.delta : undefined;
      return { doc, persisted: delta ? this.writer.persist(doc, delta, "local") : undefined };
    });
    return this.acknowledge(doc, await persisted, options, delta);
  }

  /**
   * The document's canonical JSON value and version. With `after` (a token
   * from a WriteAck), waits until this replica holds that write, or fails
   * with "not_caught_up" after `timeoutMs`.
   */
  async read(id: string, options: ReadOptions = {}): Promise<DocView> {
    if (options.after === undefined) return this.view(await this.loaded(id));
    const deps = { region: this.region, clock: this.clock, feed: this.feed, loaded: (i: string) => this.loaded(i), view: (d: LoadedDoc) => this.view(d) };
    return readAfter(deps, id, options.after, options.timeoutMs ?? 5000);
  }

  /**
   * read() without the value: the kind and version only, as read() would
   * report them, so a caller can check a cached rendering (an ETag) without
   * building the JSON. Same errors and `after` semantics as read().
   */
  async head(id: string, options: ReadOptions = {}): Promise<DocHead> {
    if (options.after === undefined) return this.headOf(await this.loaded(id));
    const deps = { region: this.region, clock: this.clock, feed: this.feed, loaded: (i: string) => this.loaded(i), view: (d: LoadedDoc) => this.headOf(d) };
    return readAfter(deps, id, options.after, options.timeoutMs ?? 5000);
  }

  /** The full state as one binary delta (Yjs update / Automerge save). */
  async encodeState(id: string): Promise<Uint8Array> {
    const doc = await this.loaded(id);
    return doc.engine.snapshot(doc.state);
  }

  /**
   * What a replica at `version` (from a DocView or WriteAck: its `version`,
   * or its `etag`) lacks, as one binary delta. An etag this replica did not
   * hand out recently (another region's, or an old one) names a version it
   * cannot see: the diff is then the whole document, as from an empty one.
   * That is still right (applying what a copy already holds changes nothing), only larger.
   */
  async diff(id: string, version: string | Uint8Array): Promise<Uint8Array> {
    if (typeof version === "string" && isVersionTag(version)) {
      const doc = await this.loaded(id);
      const known = version === this.writer.currentTag(doc) ? this.writer.currentVersion(doc).versionBytes : this.tags.lookup(id, version);
      return doc.engine.diff(doc.state, known ?? doc.engine.version(doc.engine.create()));
    }
    const bytes = typeof version === "string" ? decodeVersion(version) : version;
    const doc = await this.loaded(id);
    return doc.engine.diff(doc.state, bytes);
  }

  /**
   * Calls `listener` after every durable change of `id` (local or replicated). Returns an unsubscribe function.
   * With `when: "applied"`, as soon as the change is applied here, before it is durable (once per change): for
   * relaying edits to other editors, which is safe because a CRDT client that saw an edit the region then lost
   * (a crash before the disk) hands it back on its next sync; never for acknowledging anything.
   */
  subscribe(id: string, listener: ChangeListener, options: { when?: ChangeMoment } = {}): () => void {
    checkDocId(id);
    return this.feed.subscribe(id, listener, options.when);
  }

  /** Calls `listener` after every durable change of any document (or, `when: "applied"`, as subscribe() says). */
  subscribeAll(listener: ChangeListener, options: { when?: ChangeMoment } = {}): () => void {
    return this.feed.subscribeAll(listener, options.when);
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
   * With `options.ifVersion`, only if it is at that version here (checked
   * under the document's gate, with no write in between); else
   * "precondition_failed" and nothing changes.
   */
  async delete(id: string, options: DeleteOptions = {}): Promise<boolean> {
    const condition = parseWriteCondition(options.ifVersion);
    return this.shred(id, "local", condition);
  }

  /** The replica's figures (cache, store, rejections, repairs), and replication's per peer when it replicates. */
  stats(): ReplicaStats {
    const cache = this.slots.cache;
    return {
      region: this.region,
      cachedDocs: cache.count,
      cacheBytes: cache.bytes,
      cacheEvictions: cache.evictions,
      storeBatches: this.docs.stats.batches,
      storeEntries: this.docs.stats.entries,
      ...this.writer.counters,
      docsRepaired: this.docsRepaired,
      pendingClientDeltas: this.pending.stats.deltas,
      listenerErrors: this.feed.listenerErrors,
      quarantinedDocs: this.quarantine.list().length,
      docsQuarantinedTotal: this.quarantine.quarantinedTotal,
      ...(this.replication ? { replication: this.replication.stats() } : {}),
    };
  }

  /**
   * @internal
   * The documents quarantined for trapping their engine again and again
   * (see doc-quarantine.ts), oldest first: what /v1/admin/quarantine lists.
   */
  quarantined(): string[] {
    return this.quarantine.list();
  }

  /**
   * @internal
   * Serves a quarantined document (or, without `id`, every one) again: its
   * next use loads it from the store, and K more traps quarantine it again.
   * True when something was released.
   */
  releaseQuarantine(id?: string): boolean {
    return this.quarantine.release(id);
  }

  /** @internal Calls `listener` with each document quarantined from now on (a region logs it); returns the unsubscribe. */
  onQuarantine(listener: (id: string) => void): () => void {
    return this.quarantine.onQuarantine(listener);
  }

  /** Waits for queued writes, then closes the store. Further calls throw "closed". */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pending.close(new ConcordError("closed", `replica ${this.region} is closed`));
    await this.docs.drain();
    await this.store.close();
  }

  // ---- for replication (src/gossip) ----

  /** @internal Lets writes wait for other regions, and adds replication figures to stats(). */
  attachReplication(replication: Replication): void {
    this.replication = replication;
  }

  /**
   * @internal Every durable change and deletion, with the local sequence gossip tracks them by; with
   * `when: "applied"`, each as soon as it is applied here (as subscribe() says).
   */
  observe(observer: (event: ReplicaEvent) => void, options: { when?: ChangeMoment } = {}): () => void {
    return this.feed.observe(observer, options.when);
  }

  /**
   * @internal
   * Applies a delta from another region, creating the document if it is new
   * here. Validated like a client delta before anything changes (a broken
   * region must not poison this one); resolves once durable. False when the
   * document was shredded here. For two kinds under one id (the losing kind's
   * content is kept in a conflict document), see remote-apply.ts.
   */
  async applyRemote(id: string, kind: DocKind, delta: Uint8Array): Promise<boolean> {
    this.checkOpen();
    checkDocId(id);
    return applyRemote({ slots: this.slots, docs: this.docs, writer: this.writer, engines: this.engines, bugs: this.bugs }, id, kind, delta);
  }

  /** @internal applyRemote that resolves once applied in memory, with a promise of durability (see remote-apply.ts). */
  async applyRemoteStaged(id: string, kind: DocKind, delta: Uint8Array): Promise<StagedApply> {
    this.checkOpen();
    checkDocId(id);
    return applyRemoteStaged({ slots: this.slots, docs: this.docs, writer: this.writer, engines: this.engines, bugs: this.bugs }, id, kind, delta);
  }

  /**
   * @internal
   * Checks the records of up to `maxDocs` documents not in the cache (the next
   * ones of a sweep over the version records that wraps around), so damage is
   * found without anyone reading the document: anti-entropy then repairs it.
   */
  async scrub(maxDocs: number): Promise<void> {
    this.checkOpen();
    for (let checked = 0; checked < maxDocs; checked++) {
      this.scrubCursor ??= this.docs.versions()[Symbol.asyncIterator]();
      const next = await this.scrubCursor.next();
      if (next.done) {
        this.scrubCursor = undefined; // the sweep is done: the next call starts another
        return;
      }
      await this.slots.verify(next.value.id);
    }
  }

  /** @internal Ids whose records failed their checks when last loaded ("corrupt_record"): anti-entropy repairs them. */
  damagedDocs(): string[] {
    return [...this.slots.damaged];
  }

  /**
   * @internal
   * Rewrites damaged `id` from a peer's whole state of it (see doc-repair.ts):
   * true when it was damaged and now holds that state (counted in
   * stats().docsRepaired), false when it loads or is absent. Throws
   * "invalid_update" for a state that is not whole.
   */
  async repair(id: string, kind: DocKind, state: Uint8Array): Promise<boolean> {
    this.checkOpen();
    checkDocId(id);
    const repaired = await repairDoc({ slots: this.slots, engines: this.engines }, id, kind, state);
    if (repaired) this.docsRepaired++;
    return repaired;
  }

  /**
   * @internal Another process of this region wrote `id` to the shared store: drops the cached copy and
   * announces what the store's version adds to subscribers, never to other regions (see store-refresh.ts).
   */
  async refreshFromStore(id: string): Promise<boolean> {
    this.checkOpen();
    checkDocId(id);
    return refreshFromStore({ slots: this.slots, writer: this.writer }, id);
  }

  /** @internal Applies a deletion from another region. */
  async deleteRemote(id: string): Promise<void> {
    await this.shred(id, "remote");
  }

  /** @internal Ids deleted here (their tombstones), in no particular order. */
  async *tombstones(): AsyncIterable<string> {
    this.checkOpen();
    yield* this.docs.tombstones();
  }

  /** @internal What this replica holds of `id`: absent, deleted, or present at a version. */
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
   * @internal
   * Every document's and tombstone's version hash, for building the
   * anti-entropy tree: read from the version records, loading no document
   * unless its record says the version is not known (a crash in the middle of
   * a backlog): that one is loaded, and its record rewritten with the next batch.
   */
  async *inventory(): AsyncIterable<{ id: string; versionHash: Uint8Array }> {
    for await (const { id, versionHash: hash } of this.docs.versions()) yield { id, versionHash: hash ?? await this.reconcileVersion(id) };
    for await (const id of this.docs.tombstones()) yield { id, versionHash: deletedVersionHash() };
  }

  // ---- internals ----

  /** The version hash of `id` as stored; a hash no version has when it does not load. */
  private async reconcileVersion(id: string): Promise<Uint8Array> {
    let doc: LoadedDoc;
    try {
      doc = await this.loaded(id);
    } catch (error) {
      if (isConcordError(error, "closed")) throw error;
      return unknownVersionHash(); // differs from every peer's: anti-entropy looks at it, and skips it while it fails
    }
    const hash = () => versionHash(doc.engine.version(doc.state));
    // Recorded with the next batch; until then a crash just means reconciling again at the next open.
    this.docs.markChanged(doc.handle, hash);
    return hash();
  }

  private async acknowledge(doc: LoadedDoc, persisted: Persisted | undefined, options: WriteOptions, delta?: Uint8Array): Promise<WriteAck> {
    if (persisted === undefined) await this.writer.durable(doc); // nothing new, but it may still be on its way to disk
    const localSeq = persisted?.localSeq;
    const { version, versionBytes } = persisted ?? this.writer.currentVersion(doc);
    const ack = { id: doc.handle.id, version, token: version, changed: localSeq !== undefined, replicatedTo: 1 } as WriteAck;
    // Hashed on first read: an embedded caller that never conditions a write never pays for it.
    lazyEtag(ack, () => this.tags.tagOf(doc.handle.id, versionBytes));
    if (delta) lazyWriteToken(ack, doc.handle.kind, delta);
    const durability = options.durability ?? "local";
    if (durability === "local" || !this.replication || localSeq === undefined) return ack;
    const regions = this.replication.regions;
    const needed = durability === "all" ? regions : Math.floor(regions / 2) + 1;
    ack.replicatedTo = await this.replication.waitForReplicas(localSeq, needed, options.timeoutMs ?? 5000);
    return ack;
  }

  private async shred(id: string, origin: "local" | "remote", condition?: WriteCondition): Promise<boolean> {
    this.checkOpen();
    checkDocId(id);
    const check = condition && ((doc: LoadedDoc) => checkWriteCondition(condition, id, this.currentOf(doc)));
    return shredDoc({ slots: this.slots, docs: this.docs, feed: this.feed, writer: this.writer, clock: this.clock }, id, origin, check);
  }

  /** The document's current version, for a write condition: each form computed only if asked. */
  private currentOf(doc: LoadedDoc): CurrentVersion {
    return { tag: () => this.writer.currentTag(doc), version: () => this.writer.currentVersion(doc).version };
  }

  private headOf(doc: LoadedDoc): DocHead {
    const { id, kind } = doc.handle;
    return { id, kind, version: this.writer.currentVersion(doc).version, etag: this.writer.currentTag(doc) };
  }

  private view(doc: LoadedDoc): DocView {
    try {
      return { ...this.headOf(doc), value: doc.engine.toJSON(doc.state) };
    } catch (error) {
      this.quarantine.noteFailure(doc.handle.id, error); // a read that trapped the engine counts against the document
      throw error;
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new ConcordError("closed", `replica ${this.region} is closed`);
  }

  /** The loaded document, from the cache or the store. ConcordError "not_found" / "deleted". */
  private async loaded(id: string): Promise<LoadedDoc> {
    this.checkOpen();
    checkDocId(id);
    return this.slots.get(id);
  }

  /** Runs `write` on the cached instance of `id` (see DocSlots.write). */
  /**
   * Runs the document-free checks of a large delta off the event loop
   * (DocEngine.prepare) before the document's gate is taken. The kind is the
   * cached document's, or else every engine that prepares tries: one that
   * does not recognise the bytes returns at once.
   */
  private async prepare(id: string, delta: Uint8Array): Promise<void> {
    const kind = this.slots.cache.peek(id)?.handle.kind;
    const engines = kind === undefined ? Object.values(this.engines) : [this.engines[kind]];
    for (const engine of engines) await engine.prepare?.(delta);
  }

  private async writeTo<T>(id: string, write: (doc: LoadedDoc) => T): Promise<T> {
    this.checkOpen();
    checkDocId(id);
    return this.slots.write(id, write);
  }
}
