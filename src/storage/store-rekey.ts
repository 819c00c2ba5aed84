/**
 * Re-keying a document store: everything `from` holds under one master key is
 * copied into the empty (or partly filled) store `into` under another, with
 * nothing of the old key material carried over:
 *   - a new index secret (a new keyring), so every storage key (the keyed
 *     hash of a document id) and the region key change;
 *   - a new random data key for every document, and every record (metadata,
 *     snapshot, log) sealed again under it, with the record chain rebuilt;
 *   - version records, tombstones and the boot epoch sealed again under the
 *     new region key.
 * `from` is only read. Whoever held the old master key, or an old data key,
 * opens nothing in `into`; because `into` is a fresh store, no free page of it
 * ever held an old record either (the caller replaces the old store's file
 * with it: src/cli/keys-rekey.ts).
 *
 * Resumable: each document's records go into `into` in one atomic write with
 * its data key, so a document whose data key is there is complete and is
 * skipped when the copy is run again after a crash; tombstones and the epoch
 * are idempotent overwrites.
 */
import { recordAad } from "../crypto/aad.ts";
import { openKeyring, type Keyring } from "../crypto/keyring.ts";
import { open, seal } from "../crypto/seal.ts";
import { assert, ConcordError, isConcordError } from "../errors.ts";
import type { Random } from "../runtime/random.ts";
import { bytesEqual, concatBytes, encodeU64, toHex } from "./bytes.ts";
import { encodePayload } from "./doc-codec.ts";
import type { StoredDoc } from "./doc-handle.ts";
import { loadStoredDoc } from "./doc-load.ts";
import { openMeta, sealMeta } from "./doc-meta.ts";
import { layout, recordPrefix } from "./doc-store-layout.ts";
import { emptyChain, logAad, recordHash } from "./record-chain.ts";
import type { Store, StoreWrite } from "./store.ts";
import { createVersionRecords, openVersion, type VersionRecords } from "./version-records.ts";

export interface RekeyOptions {
  /** Hears of progress: documents copied (or found copied) of all. */
  onProgress?: (done: number, total: number) => void;
  /** Bytes of records per write to `into` (a document is never split). Default 1 MiB. */
  maxBatchBytes?: number;
  /** Documents per write to `into`. Default 256. */
  maxBatchDocs?: number;
}

export interface RekeyReport {
  /** Documents in the store. */
  documents: number;
  /** Of those, how many an earlier, interrupted run had copied already. */
  alreadyCopied: number;
  tombstones: number;
  /** Tombstones whose id could not be read: left behind (peers' tombstones still win in anti-entropy). */
  tombstonesUnreadable: number;
}

const decoder = new TextDecoder();

/**
 * Copies `from` (opened with `oldKey`) into `into` under `newKey` (see the
 * file header). Throws ConcordError "wrong_key" when `oldKey` does not open
 * `from` or `into` holds a keyring of another key, "invalid_argument" when
 * `from` is halfway through a rewrap (keys rotate --rewrap-only), and
 * "corrupt_record" naming the first damaged document (repair it first:
 * nothing damaged is carried over silently).
 */
export async function rekeyStore(
  from: Store, into: Store, oldKey: Uint8Array, newKey: Uint8Array, random: Random, options: RekeyOptions = {},
): Promise<RekeyReport> {
  const keyIds: string[] = [];
  for await (const [key] of from.scan(layout.keyringPrefix())) keyIds.push(toHex(key.subarray(1)));
  if (keyIds.length > 1) {
    throw new ConcordError("invalid_argument", `the store is halfway through a rewrap (keyrings ${keyIds.join(", ")}): finish it with "concord keys rotate --rewrap-only" first`);
  }
  await refuseUnknownRecords(from);
  const oldRing = await openKeyring(from, oldKey, random);
  const newRing = await openKeyring(into, newKey, random);
  if (bytesEqual(oldRing.keyId, newRing.keyId)) throw new ConcordError("invalid_argument", "the new master key equals the old one");
  const copier = createDocCopier(from, into, oldRing, newRing, random, options.maxBatchBytes ?? 1 << 20, options.maxBatchDocs ?? 256);

  let total = 0;
  for await (const _ of from.scan(layout.dataKeyPrefix())) total++;
  let done = 0;
  options.onProgress?.(0, total);
  for await (const [key, wrapped] of from.scan(layout.dataKeyPrefix())) {
    await copier.copy(key.subarray(1), wrapped);
    done++;
    if (await copier.flushIfFull()) options.onProgress?.(done, total);
  }
  await copier.flush();
  options.onProgress?.(done, total);

  const { tombstones, unreadable } = await copyTombstones(from, into, oldRing, newRing, random);
  await copyEpoch(from, into, oldRing, newRing, random);
  let copied = 0;
  for await (const _ of into.scan(layout.dataKeyPrefix())) copied++;
  assert(copied === total, `re-keying copied ${copied} documents of ${total}`);
  return { documents: total, alreadyCopied: copier.alreadyCopied, tombstones, tombstonesUnreadable: unreadable };
}

/**
 * Throws when `from` holds a record kind this copy does not know (one added
 * to doc-store-layout.ts after it): better no rotation than one that drops
 * records silently. One seek per unused prefix byte.
 */
async function refuseUnknownRecords(from: Store): Promise<void> {
  const known = new Set<number>(Object.values(recordPrefix));
  for (let prefix = 0; prefix < 256; prefix++) {
    if (known.has(prefix)) continue;
    for await (const _ of from.scan(Uint8Array.of(prefix))) {
      throw new ConcordError("invalid_argument", `the store holds records of kind 0x${prefix.toString(16)}, which re-keying does not know: nothing was changed`);
    }
  }
}

/** Copies documents one at a time into batches of whole documents. */
function createDocCopier(from: Store, into: Store, oldRing: Keyring, newRing: Keyring, random: Random, maxBatchBytes: number, maxBatchDocs: number) {
  const versions = createVersionRecords(newRing.regionKey, random);
  let batch: StoreWrite[] = [];
  let batchBytes = 0;
  let batchDocs = 0;
  let alreadyCopied = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    await into.write(batch);
    batch = [];
    batchBytes = 0;
    batchDocs = 0;
  };
  return {
    get alreadyCopied() {
      return alreadyCopied;
    },
    async copy(oldHash: Uint8Array, wrapped: Uint8Array) {
      const doc = await readDocument(from, oldRing, oldHash, wrapped);
      if ((await into.get(layout.dataKey(newRing.docHash(doc.id)))) !== undefined) {
        alreadyCopied++;
        return;
      }
      const writes = documentRecords(doc, await readVersionHash(from, oldRing, oldHash), newRing, versions, random);
      batch.push(...writes);
      batchDocs++;
      for (const { key, value } of writes) batchBytes += key.length + (value?.length ?? 0);
    },
    /** Writes the batch once it is full; whether it did. */
    async flushIfFull() {
      if (batchBytes < maxBatchBytes && batchDocs < maxBatchDocs) return false;
      await flush();
      return true;
    },
    flush,
  };
}

/** A document of the old store, with every check a read makes; "corrupt_record" naming it otherwise. */
async function readDocument(from: Store, ring: Keyring, hash: Uint8Array, wrapped: Uint8Array): Promise<StoredDoc> {
  let id: string | undefined;
  try {
    const sealedMeta = await from.get(layout.meta(hash));
    if (!sealedMeta) throw new ConcordError("corrupt_record", "it has a data key but no metadata");
    id = openMeta(ring.unwrapDataKey(hash, wrapped), hash, sealedMeta).id;
    if (!bytesEqual(ring.docHash(id), hash)) throw new ConcordError("corrupt_record", "its metadata names another document");
    const doc = await loadStoredDoc(from, ring, id);
    if (!doc) throw new ConcordError("corrupt_record", "its data key is gone");
    return doc;
  } catch (error) {
    if (!isConcordError(error, "corrupt_record") && !isConcordError(error, "wrong_key")) throw error;
    const name = id === undefined ? `stored as #${toHex(hash)}` : `"${id}"`;
    throw new ConcordError("corrupt_record", `document ${name} is damaged (${error.message}): rebuild the store with "concord repair" first, then rotate`, { cause: error });
  }
}

/** The document's recorded version hash; undefined (recomputed at the next open) when there is none readable. */
async function readVersionHash(from: Store, ring: Keyring, hash: Uint8Array): Promise<Uint8Array | undefined> {
  const sealed = await from.get(layout.version(hash));
  if (!sealed) return undefined;
  try {
    return openVersion(ring.regionKey, hash, sealed).versionHash;
  } catch (error) {
    if (isConcordError(error, "corrupt_record")) return undefined;
    throw error;
  }
}

/**
 * The records that store `doc` under a new data key in the store of `ring`:
 * the same snapshot and log sequences, sealed again, chained again (the
 * formats of doc-store.ts: compact() for the snapshot, append() for the log).
 */
function documentRecords(doc: StoredDoc, versionHash: Uint8Array | undefined, ring: Keyring, versions: VersionRecords, random: Random): StoreWrite[] {
  const hash = ring.docHash(doc.id);
  const dataKey = ring.newDataKey();
  const chain = emptyChain();
  const writes: StoreWrite[] = [{ key: layout.dataKey(hash), value: ring.wrapDataKey(hash, dataKey) }];
  if (doc.snapshot !== undefined) {
    const seq = doc.snapshotSeq;
    const value = concatBytes(encodeU64(seq), seal(dataKey, encodePayload(doc.snapshot), recordAad("snapshot", hash, seq), random));
    chain.snapshotSeq = chain.headSeq = seq;
    chain.snapshotHash = chain.headHash = recordHash(value);
    writes.push({ key: layout.snapshot(hash), value });
  }
  for (const { seq, delta } of doc.log) {
    const value = seal(dataKey, encodePayload(delta), logAad(hash, seq, chain.headHash), random);
    chain.headSeq = seq;
    chain.headHash = recordHash(value);
    writes.push({ key: layout.log(hash, seq), value });
  }
  writes.push({ key: layout.meta(hash), value: sealMeta(dataKey, hash, { id: doc.id, kind: doc.kind, chain }, random) });
  writes.push(versions.record({ id: doc.id, hash }, versionHash));
  return writes;
}

/** Every tombstone, under the new storage name and region key; the unreadable ones are counted and left. */
async function copyTombstones(from: Store, into: Store, oldRing: Keyring, newRing: Keyring, random: Random) {
  let tombstones = 0;
  let unreadable = 0;
  let batch: StoreWrite[] = [];
  for await (const [key, sealed] of from.scan(layout.tombstonePrefix())) {
    let plain: Uint8Array;
    let id: string;
    try {
      plain = open(oldRing.regionKey, sealed, recordAad("tombstone", key.subarray(1)), "a tombstone");
      id = (JSON.parse(decoder.decode(plain)) as { id: string }).id;
      if (typeof id !== "string") throw new ConcordError("corrupt_record", "a tombstone names no id");
    } catch {
      unreadable++;
      continue;
    }
    const hash = newRing.docHash(id);
    batch.push({ key: layout.tombstone(hash), value: seal(newRing.regionKey, plain, recordAad("tombstone", hash), random) });
    tombstones++;
    if (batch.length >= 4096) {
      await into.write(batch);
      batch = [];
    }
  }
  if (batch.length > 0) await into.write(batch);
  return { tombstones, unreadable };
}

/** The boot epoch, sealed again: the next boot's epoch must stay above it (see region-records.ts). */
async function copyEpoch(from: Store, into: Store, oldRing: Keyring, newRing: Keyring, random: Random): Promise<void> {
  const sealed = await from.get(layout.epoch());
  if (!sealed) return;
  let plain: Uint8Array;
  try {
    plain = open(oldRing.regionKey, sealed, recordAad("epoch", null), "the boot epoch");
  } catch (error) {
    // A damaged epoch record does not stop a region either: the clock term of the next epoch stands in.
    if (isConcordError(error, "corrupt_record")) return;
    throw error;
  }
  await into.write([{ key: layout.epoch(), value: seal(newRing.regionKey, plain, recordAad("epoch", null), random) }]);
}
