/**
 * Documents on top of the byte store: per document a wrapped data key, sealed
 * metadata, a snapshot and a log of deltas after it (see doc-store-layout.ts).
 * Appends go through group commit and resolve only when durable; compaction
 * replaces snapshot and log in one atomic write. Everything is sealed under
 * the document's data key with its place bound in the associated data.
 *
 * Several processes may share one store (a region on PostgreSQL). Every
 * write to a document is conditional (Store write `expect`): an append or a
 * compaction expects the document's sealed metadata to be what its handle
 * last read or wrote (DocHandle.sealedMeta), a creation expects the document
 * absent and not shredded. The metadata is rewritten, under a fresh nonce,
 * by every append and compaction, so "unchanged" means exactly "nobody
 * appended, compacted, created or deleted it since". A write that raced
 * another process is refused whole ("conflict"), group commit drops only
 * that document's entries from its batch, and the writer reloads and
 * retries (src/replica/doc-writer.ts). A compaction that raced a write is
 * dropped the same way: it can never fold a log it has not seen, nor drop a
 * record another process appended. That is as strong as the lease or
 * advisory lock the design first had in mind, and needs no lock table: the
 * lock would serialise writers before they write, the expectation
 * serialises them at the commit, where PostgreSQL's row locks and
 * SERIALIZABLE check do it (postgres-writer.ts); the cost moves to the
 * loser, which retries, and nothing can hold a lock past its death.
 */
import { recordAad } from "../crypto/aad.ts";
import type { Keyring } from "../crypto/keyring.ts";
import { seal } from "../crypto/seal.ts";
import type { DocKind } from "../doc/engine.ts";
import { assert, ConcordError, isConcordError } from "../errors.ts";
import { systemClock, type Clock } from "../runtime/clock.ts";
import type { Random } from "../runtime/random.ts";
import { encodePayload } from "./doc-codec.ts";
import { encodeU64, fromHex, toHex } from "./bytes.ts";
import { loadConsistent } from "./doc-load.ts";
import { openMeta, sealMeta } from "./doc-meta.ts";
import { docHashBytes, layout, recordPrefix } from "./doc-store-layout.ts";
import { createGroupCommit } from "./group-commit.ts";
import { emptyChain, logAad, recordHash } from "./record-chain.ts";
import { bootEpochRecord, nextBootEpoch, readTombstoneIds, readVersions } from "./region-records.ts";
import type { Store, StoreExpectation, StoreWrite } from "./store.ts";
import { createVersionRecords } from "./version-records.ts";
import type { DocHandle, KeptContent, StoredDoc } from "./doc-handle.ts";

export interface DocStoreOptions {
  /** Upper bound on one store write, in bytes. Default 16 MiB (see group-commit.ts). */
  maxBatchBytes?: number;
  /** Read by nextEpoch() only. Default: the system clock. */
  clock?: Clock;
  /** The injected bug serve-rolled-back-tail (see doc-load.ts); never in production. */
  skipChainCheck?: boolean;
}

export type { DocHandle, KeptContent, StoredDoc } from "./doc-handle.ts";

/** One document for DocStore.createMany. */
export interface NewDoc {
  id: string;
  kind: DocKind;
  /** Its version hash once created (after `delta`, when there is one). */
  versionHash: Uint8Array;
  /** Its first content (an initial shape), appended at seq 1 in the same write. */
  delta?: Uint8Array;
}

export interface DocStore {
  /** Creates an empty document whose version hash is `versionHash`. Throws "exists" or "deleted". */
  create(id: string, kind: DocKind, versionHash: Uint8Array): Promise<DocHandle>;
  /**
   * Creates many documents (distinct ids) in one atomic store write, each
   * empty or holding `delta` at seq 1, with `versionHash` its version after
   * it. Per item: its handle, or the ConcordError ("exists", "deleted") that
   * kept it out. Throws only when the write itself fails (then none is created).
   */
  createMany(items: readonly NewDoc[]): Promise<Array<DocHandle | ConcordError>>;
  /**
   * Atomically swaps whatever is stored for `id` for an empty document of
   * `kind` under a new data key: the old data key is destroyed (its records
   * are crypto-shredded), no tombstone is left. With `keep`, the same atomic
   * write appends `keep.delta` to another document (creating it if asked):
   * after a crash either the old document is there or both new ones are,
   * never neither (a kind conflict moves the losing content aside this way:
   * see src/replica/remote-apply.ts). Throws "deleted" (for `id`, or for a
   * `keep` document to create), "exists" (a `keep` document to create is there).
   */
  replace(id: string, kind: DocKind, versionHash: Uint8Array, keep?: KeptContent): Promise<{ doc: DocHandle; kept: DocHandle | undefined }>;
  /**
   * Atomically swaps whatever is stored for `id` (damaged records included:
   * nothing of it is read) for a fresh record set under a new data key whose
   * log is `delta` at seq 1: a damaged document repaired from a peer's whole
   * state (see src/replica/doc-repair.ts). Throws "deleted".
   */
  rewrite(id: string, kind: DocKind, delta: Uint8Array, versionHash: Uint8Array): Promise<DocHandle>;
  /**
   * Notes that `doc` changed: its version record is rewritten, from
   * `versionHash()` taken as the batch is cut, in the same atomic write as the
   * appends it covers. While a backlog splits the appends over several
   * batches, those before the last one record the version as "not known"
   * (it would already include later batches' deltas); the last one records it.
   * A `versionHash()` that throws also records "not known".
   */
  markChanged(doc: DocHandle, versionHash: () => Uint8Array): void;
  /**
   * Every live document's id and version hash, from the version records alone
   * (no document is loaded). The hash is undefined when it is not known (a
   * crash in the middle of a backlog; see markChanged): the caller recomputes it.
   */
  versions(): AsyncIterable<{ id: string; versionHash: Uint8Array | undefined }>;
  /** Everything stored for `id`; undefined if it was never created. Throws "deleted", "corrupt_record". */
  load(id: string): Promise<StoredDoc | undefined>;
  /** Appends one delta at `seq` (the handle's head + 1), with the metadata naming it; resolves when durable. */
  append(doc: DocHandle, seq: number, delta: Uint8Array): Promise<void>;
  /** Atomically stores `snapshot` as covering `seq` (the handle's head) and drops log records (fromSeq..seq]. */
  compact(doc: DocHandle, seq: number, snapshot: Uint8Array, fromSeq: number): Promise<void>;
  /**
   * Shreds the document: destroys its data key and records, leaves a tombstone.
   * False if it was not here; then a tombstone is written only with `tombstoneIfAbsent`
   * (a deletion replicated from another region, which must stop it arriving later).
   */
  delete(id: string, deletedAt: number, tombstoneIfAbsent?: boolean): Promise<boolean>;
  /** True when `id` was shredded here. */
  isDeleted(id: string): Promise<boolean>;
  /** Every live document (unordered: storage keys are hashes). */
  list(): AsyncIterable<{ id: string; kind: DocKind }>;
  /** Every shredded document's id. */
  tombstones(): AsyncIterable<string>;
  /**
   * Returns this store's next boot epoch, durable on resolve: the larger of
   * the previous one + 1 and the clock's seconds since 1970. The clock term
   * keeps a region rebuilt on an empty disk, or restored from an older
   * backup, above every epoch it used before (peers reject frames whose
   * counters fall behind what they saw), without any record surviving.
   */
  nextEpoch(): Promise<number>;
  /** Resolves once every queued write is durable. */
  drain(): Promise<void>;
  readonly stats: { batches: number; entries: number };
}

const encoder = new TextEncoder();

/** Attempts of a creation, deletion or epoch bump that keeps racing other processes, before "unavailable". */
const conflictAttemptsMax = 8;

/** Runs `work` again while it conflicts with another process's write (each run re-reads what it checks). */
async function retryingConflicts<T>(what: string, work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (!isConcordError(error, "conflict")) throw error;
      if (attempt >= conflictAttemptsMax) {
        throw new ConcordError("unavailable", `${what} kept conflicting with other writers (${attempt} attempts)`, { cause: error });
      }
    }
  }
}

/** The document a key belongs to (hex of its hash), for the records stored per document. */
function docScope(key: Uint8Array): string | undefined {
  const perDoc = key[0] === recordPrefix.dataKey || key[0] === recordPrefix.meta || key[0] === recordPrefix.snapshot ||
    key[0] === recordPrefix.log || key[0] === recordPrefix.tombstone || key[0] === recordPrefix.version;
  return perDoc && key.length >= 1 + docHashBytes ? toHex(key.subarray(1, 1 + docHashBytes)) : undefined;
}

export function createDocStore(store: Store, keyring: Keyring, random: Random, options: DocStoreOptions = {}): DocStore {
  const clock = options.clock ?? systemClock;
  const versions = createVersionRecords(keyring.regionKey, random);
  const commits = createGroupCommit(store, {
    ...(options.maxBatchBytes === undefined ? {} : { maxBatchBytes: options.maxBatchBytes }),
    beforeBatch: (drainsQueue, batch) => versions.forBatch(drainsQueue, batch),
    scopeOf: docScope,
    // A version record still pending for a dropped document describes a live state that is not stored.
    onDropped: (scopes) => {
      for (const scope of scopes) if (!scope.startsWith("key:")) versions.forget(fromHex(scope));
    },
  });

  /** The metadata naming the handle's current head: written in the same batch as each record it names. */
  const metaRecord = (doc: DocHandle): StoreWrite => {
    const value = sealMeta(doc.dataKey, doc.hash, { id: doc.id, kind: doc.kind, chain: doc.chain }, random);
    doc.sealedMeta = value;
    return { key: layout.meta(doc.hash), value };
  };

  /** What a write through `doc` expects: its metadata as the handle last saw it (call before metaRecord). */
  const unchanged = (doc: DocHandle): StoreExpectation => ({ key: layout.meta(doc.hash), value: doc.sealedMeta });

  /** What a creation of the document `hash` expects: nothing there, and no tombstone. */
  const absent = (hash: Uint8Array): StoreExpectation[] => [
    { key: layout.dataKey(hash), value: undefined },
    { key: layout.meta(hash), value: undefined },
    { key: layout.tombstone(hash), value: undefined },
  ];

  /** A log record chained to the head, and the metadata naming it as the new head. */
  const logRecords = (doc: DocHandle, seq: number, delta: Uint8Array): StoreWrite[] => {
    const { chain } = doc;
    assert(seq === chain.headSeq + 1, `append of "${doc.id}" at ${seq} after head ${chain.headSeq}`);
    const value = seal(doc.dataKey, encodePayload(delta), logAad(doc.hash, seq, chain.headHash), random);
    chain.headSeq = seq;
    chain.headHash = recordHash(value);
    return [{ key: layout.log(doc.hash, seq), value }, metaRecord(doc)];
  };

  const newHandle = (id: string, kind: DocKind, hash: Uint8Array): DocHandle =>
    ({ id, kind, hash, dataKey: keyring.newDataKey(), chain: emptyChain(), sealedMeta: undefined });

  /** The writes that make `doc` a new, empty document (over whatever was there). */
  const newDocRecords = (doc: DocHandle, versionHash: Uint8Array): StoreWrite[] => [
    { key: layout.dataKey(doc.hash), value: keyring.wrapDataKey(doc.hash, doc.dataKey) },
    metaRecord(doc),
    versions.record(doc, versionHash),
  ];

  const isDeletedHash = async (hash: Uint8Array) => (await store.get(layout.tombstone(hash))) !== undefined;

  /** Adds to `writes` what puts `keep` in its document (created first, when it is new); that document's handle. */
  const keptRecords = async (keep: KeptContent, writes: StoreWrite[], expect: StoreExpectation[]): Promise<DocHandle> => {
    let doc: DocHandle;
    if ("dataKey" in keep.doc) {
      doc = keep.doc;
      expect.push(unchanged(doc));
      writes.push(versions.record(doc, keep.versionHash));
    } else {
      const { id, kind } = keep.doc;
      const hash = keyring.docHash(id);
      if (await isDeletedHash(hash)) throw new ConcordError("deleted", `document "${id}" was deleted and cannot be recreated`);
      if (await store.get(layout.dataKey(hash))) throw new ConcordError("exists", `document "${id}" already exists`);
      doc = newHandle(id, kind, hash);
      expect.push(...absent(hash));
      writes.push(...newDocRecords(doc, keep.versionHash)); // its version record included
    }
    writes.push(...logRecords(doc, keep.seq, keep.delta));
    // Its version is written here, with the append it covers: a pending record must not follow with an older one.
    versions.forget(doc.hash);
    return doc;
  };

  /** The writes that swap whatever `id` holds for a new empty document of `kind`, and its handle. Throws "deleted". */
  const swapRecords = async (id: string, kind: DocKind, versionHash: Uint8Array) => {
    const hash = keyring.docHash(id);
    // Every append to the old document is on disk first, so the scan below finds all its log records.
    await commits.drain();
    if (await isDeletedHash(hash)) throw new ConcordError("deleted", `document "${id}" was deleted`);
    // Read before the scan: a record another process appends after it makes the swap conflict, never outlive it.
    const expect: StoreExpectation[] = [
      { key: layout.meta(hash), value: await store.get(layout.meta(hash)) },
      { key: layout.tombstone(hash), value: undefined },
    ];
    const doc = newHandle(id, kind, hash);
    // Overwriting the wrapped data key shreds the old records; deleting them frees their space.
    const writes: StoreWrite[] = [{ key: layout.snapshot(hash) }];
    for await (const [key] of store.scan(layout.logPrefix(hash))) writes.push({ key });
    writes.push(...newDocRecords(doc, versionHash));
    versions.forget(hash);
    return { doc, writes, expect };
  };

  // Creation is check-then-write; serialise it per document so two creates cannot both pass the check.
  const creating = new Map<string, Promise<unknown>>();
  const exclusively = async <T>(ids: readonly string[], work: () => Promise<T>): Promise<T> => {
    for (let busy = ids.find((id) => creating.has(id)); busy !== undefined; busy = ids.find((id) => creating.has(id))) {
      await creating.get(busy)!.catch(() => undefined);
    }
    const run = work();
    for (const id of ids) creating.set(id, run);
    try {
      return await run;
    } finally {
      for (const id of ids) if (creating.get(id) === run) creating.delete(id);
    }
  };

  /** Checks that `item` may be created and returns its handle and writes. Throws "deleted", "exists". */
  const creation = async ({ id, kind, versionHash, delta }: NewDoc) => {
    const hash = keyring.docHash(id);
    if (await isDeletedHash(hash)) throw new ConcordError("deleted", `document "${id}" was deleted and cannot be recreated`);
    if (await store.get(layout.dataKey(hash))) throw new ConcordError("exists", `document "${id}" already exists`);
    const doc = newHandle(id, kind, hash);
    // Another process may be creating it too: only one creation can find it absent at the commit.
    const expect = absent(hash);
    // Records left under the hash without a data key (a damaged store, a salvage) must not join the new chain.
    const writes: StoreWrite[] = [{ key: layout.snapshot(hash) }];
    for await (const [key] of store.scan(layout.logPrefix(hash))) writes.push({ key });
    if (delta === undefined) writes.push(...newDocRecords(doc, versionHash));
    // One metadata record, naming the first delta as the head: sealed once.
    else writes.push({ key: layout.dataKey(hash), value: keyring.wrapDataKey(hash, doc.dataKey) }, ...logRecords(doc, 1, delta), versions.record(doc, versionHash));
    return { doc, writes, expect };
  };

  return {
    stats: commits.stats,

    create(id, kind, versionHash) {
      // A conflict means another process created (or deleted) it meanwhile: the check runs again and says so.
      return exclusively([id], () => retryingConflicts(`creating "${id}"`, async () => {
        const { doc, writes, expect } = await creation({ id, kind, versionHash });
        await commits.commit(writes, expect);
        return doc;
      }));
    },

    createMany(items) {
      assert(new Set(items.map((i) => i.id)).size === items.length, "createMany takes distinct ids");
      // One conflict refuses the whole write: the checks run again, and the documents created meanwhile say "exists".
      return exclusively(items.map((i) => i.id), () => retryingConflicts(`creating ${items.length} documents`, async () => {
        const results: Array<DocHandle | ConcordError> = [];
        const writes: StoreWrite[] = [];
        const expect: StoreExpectation[] = [];
        for (const item of items) {
          try {
            const created = await creation(item);
            results.push(created.doc);
            for (const w of created.writes) writes.push(w);
            for (const e of created.expect) expect.push(e);
          } catch (error) {
            if (!(error instanceof ConcordError) || (error.code !== "exists" && error.code !== "deleted")) throw error;
            results.push(error);
          }
        }
        if (writes.length > 0) await commits.commit(writes, expect);
        return results;
      }));
    },

    // Not retried on a conflict: a `keep` handle has advanced its chain. The caller's next write through it
    // conflicts in turn and reloads (the replica's recovery); the swap itself is asked for again by anti-entropy.
    async replace(id, kind, versionHash, keep) {
      const { doc, writes, expect } = await swapRecords(id, kind, versionHash);
      const kept = keep && await keptRecords(keep, writes, expect);
      await commits.commit(writes, expect);
      return { doc, kept };
    },

    rewrite(id, kind, delta, versionHash) {
      return retryingConflicts(`rewriting "${id}"`, async () => {
        const { doc, writes, expect } = await swapRecords(id, kind, versionHash);
        writes.push(...logRecords(doc, 1, delta));
        await commits.commit(writes, expect);
        return doc;
      });
    },

    async load(id) {
      // A load must see every append queued before it: a document evicted from a cache with writes in flight.
      await commits.drain();
      return loadConsistent(store, keyring, id, { skipChainCheck: options.skipChainCheck ?? false });
    },

    append(doc, seq, delta) {
      const expect = [unchanged(doc)];
      return commits.commit(logRecords(doc, seq, delta), expect);
    },

    compact(doc, seq, snapshot, fromSeq) {
      const sealed = seal(doc.dataKey, encodePayload(snapshot), recordAad("snapshot", doc.hash, seq), random);
      const value = new Uint8Array(8 + sealed.length);
      value.set(encodeU64(seq), 0);
      value.set(sealed, 8);
      const { chain } = doc;
      // Records after `seq` would chain to a record this drops: compaction folds the whole log.
      assert(seq === chain.headSeq, `compaction of "${doc.id}" at ${seq} below head ${chain.headSeq}`);
      chain.snapshotSeq = seq;
      chain.snapshotHash = chain.headHash = recordHash(value);
      // Dropped, never half-applied, if another process wrote the document since this handle did (see the header).
      const expect = [unchanged(doc)];
      const writes: StoreWrite[] = [{ key: layout.snapshot(doc.hash), value }, metaRecord(doc)];
      for (let s = fromSeq + 1; s <= seq; s++) writes.push({ key: layout.log(doc.hash, s) });
      return commits.commit(writes, expect);
    },

    delete(id, deletedAt, tombstoneIfAbsent = false) {
      return retryingConflicts(`deleting "${id}"`, () => deleteOnce(id, deletedAt, tombstoneIfAbsent));
    },

    isDeleted: (id) => isDeletedHash(keyring.docHash(id)),

    async *list() {
      for await (const [key, wrapped] of store.scan(layout.dataKeyPrefix())) {
        const hash = key.subarray(1);
        const sealedMeta = await store.get(layout.meta(hash));
        if (!sealedMeta) continue; // deleted between the scan and this read
        let meta;
        try {
          meta = openMeta(keyring.unwrapDataKey(hash, wrapped), hash, sealedMeta);
        } catch (error) {
          // A damaged record hides that one document (unreadable until a peer repairs it), not the listing.
          if (isConcordError(error, "corrupt_record") || isConcordError(error, "wrong_key")) continue;
          throw error;
        }
        yield { id: meta.id, kind: meta.kind };
      }
    },

    markChanged: (doc, versionHash) => versions.markChanged(doc, versionHash),

    versions: () => readVersions(store, keyring.regionKey),

    tombstones: () => readTombstoneIds(store, keyring.regionKey),

    // Two processes of one region may bump it at once: the expectation makes one of them read again.
    nextEpoch: () => retryingConflicts("bumping the boot epoch", async () => {
      const before = await store.get(layout.epoch());
      const epoch = await nextBootEpoch(store, keyring.regionKey, clock);
      await commits.commit([bootEpochRecord(keyring.regionKey, epoch, random)], [{ key: layout.epoch(), value: before }]);
      return epoch;
    }),

    drain: () => commits.drain(),
  };

  /** One attempt of delete(): expects what it read, so an append by another process meanwhile makes it read again. */
  async function deleteOnce(id: string, deletedAt: number, tombstoneIfAbsent: boolean): Promise<boolean> {
    const hash = keyring.docHash(id);
    await commits.drain();
    if (await isDeletedHash(hash)) return false;
    const wrappedKey = await store.get(layout.dataKey(hash));
    const present = wrappedKey !== undefined;
    if (!present && !tombstoneIfAbsent) return false;
    const expect: StoreExpectation[] = [
      { key: layout.dataKey(hash), value: wrappedKey },
      { key: layout.meta(hash), value: await store.get(layout.meta(hash)) },
      { key: layout.tombstone(hash), value: undefined },
    ];
    const tombstone = seal(
      keyring.regionKey,
      encoder.encode(JSON.stringify({ id, deletedAt })),
      recordAad("tombstone", hash),
      random,
    );
    const writes: StoreWrite[] = [
      { key: layout.dataKey(hash) },
      { key: layout.meta(hash) },
      { key: layout.snapshot(hash) },
      { key: layout.version(hash) },
      { key: layout.tombstone(hash), value: tombstone },
    ];
    versions.forget(hash);
    for await (const [key] of store.scan(layout.logPrefix(hash))) writes.push({ key });
    await commits.commit(writes, expect);
    return present;
  }
}
