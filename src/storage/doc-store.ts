/**
 * Documents on top of the byte store: per document a wrapped data key, sealed
 * metadata, a snapshot and a log of deltas after it (see doc-store-layout.ts).
 * Appends go through group commit and resolve only when durable; compaction
 * replaces snapshot and log in one atomic write. Everything is sealed under
 * the document's data key with its place bound in the associated data.
 */
import { recordAad } from "../crypto/aad.ts";
import type { Keyring } from "../crypto/keyring.ts";
import { open, seal } from "../crypto/seal.ts";
import type { DocKind } from "../doc/engine.ts";
import { ConcordError } from "../errors.ts";
import type { Random } from "../runtime/random.ts";
import { decodePayload, encodePayload } from "./doc-codec.ts";
import { concatBytes, decodeU64, encodeU64, toHex } from "./bytes.ts";
import { layout } from "./doc-store-layout.ts";
import { createGroupCommit, type GroupCommitOptions } from "./group-commit.ts";
import type { Store, StoreWrite } from "./store.ts";

/** What the store needs to address and seal one document's records. */
export interface DocHandle {
  readonly id: string;
  readonly kind: DocKind;
  readonly hash: Uint8Array;
  readonly dataKey: Uint8Array;
}

export interface StoredDoc extends DocHandle {
  /** Sequence number the snapshot covers (0 = no snapshot yet). */
  snapshotSeq: number;
  snapshot: Uint8Array | undefined;
  /** Deltas after the snapshot, in sequence order, contiguous. */
  log: Array<{ seq: number; delta: Uint8Array }>;
  /** Stored bytes of snapshot and log: the cost of loading it. */
  storedBytes: number;
}

export interface DocStore {
  /** Creates an empty document whose version hash is `versionHash`. Throws "exists" or "deleted". */
  create(id: string, kind: DocKind, versionHash: Uint8Array): Promise<DocHandle>;
  /**
   * Notes that `doc` changed: its version record is rewritten, from
   * `versionHash()` taken as the batch is cut, in the same atomic write as the
   * appends it covers (deferred while a backlog splits them over several batches).
   */
  markChanged(doc: DocHandle, versionHash: () => Uint8Array): void;
  /** Every live document's id and version hash, from the version records alone (no document is loaded). */
  versions(): AsyncIterable<{ id: string; versionHash: Uint8Array }>;
  /** Everything stored for `id`; undefined if it was never created. Throws "deleted", "corrupt_record". */
  load(id: string): Promise<StoredDoc | undefined>;
  /** Appends one delta at `seq`; resolves when durable. */
  append(doc: DocHandle, seq: number, delta: Uint8Array): Promise<void>;
  /** Atomically stores `snapshot` as covering `seq` and drops log records (fromSeq..seq]. */
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
  /** Increments and returns this store's boot epoch (durable on resolve). */
  nextEpoch(): Promise<number>;
  /** Resolves once every queued write is durable. */
  drain(): Promise<void>;
  readonly stats: { batches: number; entries: number };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function createDocStore(
  store: Store,
  keyring: Keyring,
  random: Random,
  options: GroupCommitOptions = {},
): DocStore {
  const dirty = new Map<string, { doc: DocHandle; versionHash: () => Uint8Array }>();
  const versionRecord = (doc: DocHandle, versionHash: Uint8Array): StoreWrite => ({
    key: layout.version(doc.hash),
    value: seal(keyring.regionKey, concatBytes(versionHash, encoder.encode(doc.id)), recordAad("version", doc.hash), random),
  });
  const commits = createGroupCommit(store, {
    ...options,
    beforeBatch(drainsQueue) {
      // Only once every applied delta is in this batch or an earlier one may the version be recorded.
      if (!drainsQueue || dirty.size === 0) return [];
      const writes = [...dirty.values()].map(({ doc, versionHash }) => versionRecord(doc, versionHash()));
      dirty.clear();
      return writes;
    },
  });

  const sealMeta = (doc: DocHandle) =>
    seal(doc.dataKey, encoder.encode(JSON.stringify({ id: doc.id, kind: doc.kind })), recordAad("meta", doc.hash), random);

  const openMeta = (hash: Uint8Array, dataKey: Uint8Array, sealed: Uint8Array): { id: string; kind: DocKind } => {
    const meta = JSON.parse(decoder.decode(open(dataKey, sealed, recordAad("meta", hash), "document metadata")));
    if (typeof meta?.id !== "string" || (meta.kind !== "yjs" && meta.kind !== "automerge")) {
      throw new ConcordError("corrupt_record", "document metadata is malformed");
    }
    return meta;
  };

  const readDataKey = async (hash: Uint8Array): Promise<Uint8Array | undefined> => {
    const wrapped = await store.get(layout.dataKey(hash));
    return wrapped && keyring.unwrapDataKey(hash, wrapped);
  };

  const isDeletedHash = async (hash: Uint8Array) => (await store.get(layout.tombstone(hash))) !== undefined;

  // Creation is check-then-write; serialise it per document so two creates cannot both pass the check.
  const creating = new Map<string, Promise<unknown>>();

  return {
    stats: commits.stats,

    async create(id, kind, versionHash) {
      while (creating.has(id)) await creating.get(id)!.catch(() => undefined);
      const work = (async () => {
        const hash = keyring.docHash(id);
        if (await isDeletedHash(hash)) throw new ConcordError("deleted", `document "${id}" was deleted and cannot be recreated`);
        if (await store.get(layout.dataKey(hash))) throw new ConcordError("exists", `document "${id}" already exists`);
        const dataKey = keyring.newDataKey();
        const doc: DocHandle = { id, kind, hash, dataKey };
        await commits.commit([
          { key: layout.dataKey(hash), value: keyring.wrapDataKey(hash, dataKey) },
          { key: layout.meta(hash), value: sealMeta(doc) },
          versionRecord(doc, versionHash),
        ]);
        return doc;
      })();
      creating.set(id, work);
      try {
        return await work;
      } finally {
        creating.delete(id);
      }
    },

    async load(id) {
      const hash = keyring.docHash(id);
      // A load must see every append queued before it: a document evicted from a cache with writes in flight.
      await commits.drain();
      const dataKey = await readDataKey(hash);
      if (!dataKey) {
        if (await isDeletedHash(hash)) throw new ConcordError("deleted", `document "${id}" was deleted`);
        return undefined;
      }
      const sealedMeta = await store.get(layout.meta(hash));
      if (!sealedMeta) throw new ConcordError("corrupt_record", `document "${id}" has a data key but no metadata`);
      const meta = openMeta(hash, dataKey, sealedMeta);
      if (meta.id !== id) throw new ConcordError("corrupt_record", `document "${id}" holds the metadata of another document`);

      let storedBytes = 0;
      let snapshotSeq = 0;
      let snapshot: Uint8Array | undefined;
      const snapshotRecord = await store.get(layout.snapshot(hash));
      if (snapshotRecord) {
        if (snapshotRecord.length < 8) throw new ConcordError("corrupt_record", `the snapshot of "${id}" is truncated`);
        snapshotSeq = decodeU64(snapshotRecord);
        const what = `the snapshot of "${id}"`;
        snapshot = decodePayload(open(dataKey, snapshotRecord.subarray(8), recordAad("snapshot", hash, snapshotSeq), what), what);
        storedBytes += snapshotRecord.length;
      }
      const log: StoredDoc["log"] = [];
      let expected = snapshotSeq + 1;
      for await (const [key, value] of store.scan(layout.logPrefix(hash))) {
        const seq = decodeU64(key, key.length - 8);
        if (seq < expected) continue; // already folded into the snapshot
        if (seq !== expected) throw new ConcordError("corrupt_record", `the log of "${id}" is missing record ${expected}`);
        const what = `log record ${seq} of "${id}"`;
        log.push({ seq, delta: decodePayload(open(dataKey, value, recordAad("log", hash, seq), what), what) });
        storedBytes += value.length;
        expected++;
      }
      return { id, kind: meta.kind, hash, dataKey, snapshotSeq, snapshot, log, storedBytes };
    },

    append(doc, seq, delta) {
      const sealed = seal(doc.dataKey, encodePayload(delta), recordAad("log", doc.hash, seq), random);
      return commits.commit([{ key: layout.log(doc.hash, seq), value: sealed }]);
    },

    compact(doc, seq, snapshot, fromSeq) {
      const sealed = seal(doc.dataKey, encodePayload(snapshot), recordAad("snapshot", doc.hash, seq), random);
      const value = new Uint8Array(8 + sealed.length);
      value.set(encodeU64(seq), 0);
      value.set(sealed, 8);
      const writes: StoreWrite[] = [{ key: layout.snapshot(doc.hash), value }];
      for (let s = fromSeq + 1; s <= seq; s++) writes.push({ key: layout.log(doc.hash, s) });
      return commits.commit(writes);
    },

    async delete(id, deletedAt, tombstoneIfAbsent = false) {
      const hash = keyring.docHash(id);
      await commits.drain();
      if (await isDeletedHash(hash)) return false;
      const present = (await store.get(layout.dataKey(hash))) !== undefined;
      if (!present && !tombstoneIfAbsent) return false;
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
      dirty.delete(toHex(hash));
      for await (const [key] of store.scan(layout.logPrefix(hash))) writes.push({ key });
      await commits.commit(writes);
      return present;
    },

    isDeleted: (id) => isDeletedHash(keyring.docHash(id)),

    async *list() {
      for await (const [key, wrapped] of store.scan(layout.dataKeyPrefix())) {
        const hash = key.subarray(1);
        const sealedMeta = await store.get(layout.meta(hash));
        if (!sealedMeta) continue; // deleted between the scan and this read
        yield openMeta(hash, keyring.unwrapDataKey(hash, wrapped), sealedMeta);
      }
    },

    markChanged(doc, versionHash) {
      dirty.set(toHex(doc.hash), { doc, versionHash });
    },

    async *versions() {
      for await (const [key, sealed] of store.scan(layout.versionPrefix())) {
        const plain = open(keyring.regionKey, sealed, recordAad("version", key.subarray(1)), "a version record");
        yield { id: decoder.decode(plain.subarray(16)), versionHash: plain.slice(0, 16) };
      }
    },

    async *tombstones() {
      for await (const [key, sealed] of store.scan(layout.tombstonePrefix())) {
        const plain = open(keyring.regionKey, sealed, recordAad("tombstone", key.subarray(1)), "a tombstone");
        yield (JSON.parse(decoder.decode(plain)) as { id: string }).id;
      }
    },

    async nextEpoch() {
      const sealed = await store.get(layout.epoch());
      const previous = sealed ? decodeU64(open(keyring.regionKey, sealed, recordAad("epoch", null), "the boot epoch")) : 0;
      const epoch = previous + 1;
      await commits.commit([{ key: layout.epoch(), value: seal(keyring.regionKey, encodeU64(epoch), recordAad("epoch", null), random) }]);
      return epoch;
    },

    drain: () => commits.drain(),
  };
}
