/**
 * Reading one document's record set back: open every seal and check that the
 * records are exactly the set its metadata names (record-chain.ts). Anything
 * else (a record missing, swapped, rolled back, or left beyond the head) is
 * ConcordError("corrupt_record") and nothing of the document is returned.
 */
import type { Keyring } from "../crypto/keyring.ts";
import { recordAad } from "../crypto/aad.ts";
import { open } from "../crypto/seal.ts";
import { ConcordError, isConcordError } from "../errors.ts";
import { bytesEqual, decodeU64 } from "./bytes.ts";
import { decodePayload } from "./doc-codec.ts";
import { openMeta } from "./doc-meta.ts";
import type { StoredDoc } from "./doc-handle.ts";
import { keyIdBytes, layout } from "./doc-store-layout.ts";
import { logAad, noRecordHash, recordHash, type ChainHead } from "./record-chain.ts";
import type { Store } from "./store.ts";
import { openVersion } from "./version-records.ts";

const corrupt = (message: string) => new ConcordError("corrupt_record", message);

/** The snapshot the chain names, opened; undefined when it names none. */
async function readSnapshot(store: Store, id: string, hash: Uint8Array, dataKey: Uint8Array, chain: ChainHead) {
  const record = await store.get(layout.snapshot(hash));
  if (!record) {
    if (chain.snapshotSeq > 0) throw corrupt(`the snapshot of "${id}" is missing`);
    return undefined;
  }
  if (chain.snapshotSeq === 0) throw corrupt(`"${id}" holds a snapshot its metadata does not name`);
  if (record.length < 8) throw corrupt(`the snapshot of "${id}" is truncated`);
  const seq = decodeU64(record);
  // An older snapshot written back over the current one still opens: the hash in the metadata is what refuses it.
  if (seq !== chain.snapshotSeq || !bytesEqual(recordHash(record), chain.snapshotHash)) {
    throw corrupt(`the snapshot of "${id}" (covering ${seq}) is not the one its metadata names (covering ${chain.snapshotSeq})`);
  }
  const what = `the snapshot of "${id}"`;
  return { bytes: decodePayload(open(dataKey, record.subarray(8), recordAad("snapshot", hash, seq), what), what), stored: record.length };
}

/**
 * The document's data key. A key id that no keyring record has is a damaged
 * record ("corrupt_record"); one the keyring still holds is a key rotation not
 * finished ("wrong_key", which `concord keys rotate` resolves).
 */
async function unwrap(store: Store, keyring: Keyring, id: string, hash: Uint8Array, wrapped: Uint8Array): Promise<Uint8Array> {
  try {
    return keyring.unwrapDataKey(hash, wrapped);
  } catch (error) {
    if (!isConcordError(error, "wrong_key") || (await store.get(layout.keyring(wrapped.subarray(0, keyIdBytes)))) !== undefined) throw error;
    throw corrupt(`the data key of "${id}" names a master key this region never had`);
  }
}

/**
 * The version hash `id`'s version record names, for the replica to check the
 * replayed document against (loaded-doc.ts): the record lives elsewhere in the
 * store (another key range, another page) and is sealed by the region key, so
 * a document whose records ALL went back to an older, self-consistent set
 * (a stale page, a restored copy of its records) still shows. Undefined when
 * the record is missing, says "not known", or does not open (anti-entropy
 * already treats such a document as differing from every peer's).
 */
async function recordedVersion(store: Store, keyring: Keyring, id: string, hash: Uint8Array): Promise<Uint8Array | undefined> {
  const sealed = await store.get(layout.version(hash));
  if (!sealed) return undefined;
  let version;
  try {
    version = openVersion(keyring.regionKey, hash, sealed);
  } catch (error) {
    if (isConcordError(error, "corrupt_record")) return undefined;
    throw error;
  }
  if (version.id !== id) throw corrupt(`the version record of "${id}" names another document`);
  return version.versionHash;
}

export interface LoadOptions {
  /**
   * The injected bug serve-rolled-back-tail (never in production): read
   * whatever records are there, chained to each other but not to the
   * metadata's head nor to the version record, so a dropped or rolled-back
   * tail is served as the document.
   */
  skipChainCheck?: boolean;
}

/** Everything stored for `id`; undefined if it was never created. Throws "deleted", "corrupt_record". */
export async function loadStoredDoc(store: Store, keyring: Keyring, id: string, options: LoadOptions = {}): Promise<StoredDoc | undefined> {
  const hash = keyring.docHash(id);
  const wrapped = await store.get(layout.dataKey(hash));
  if (!wrapped) {
    if ((await store.get(layout.tombstone(hash))) !== undefined) throw new ConcordError("deleted", `document "${id}" was deleted`);
    // Its version record is written and deleted with its data key: one without the other is a damaged store, and
    // reading the document as absent would leave anti-entropy (which starts from version records) blind to it.
    if ((await store.get(layout.version(hash))) !== undefined) throw corrupt(`the data key of "${id}" is missing`);
    return undefined;
  }
  const dataKey = await unwrap(store, keyring, id, hash, wrapped);
  const sealedMeta = await store.get(layout.meta(hash));
  if (!sealedMeta) throw corrupt(`document "${id}" has a data key but no metadata`);
  const meta = openMeta(dataKey, hash, sealedMeta);
  if (meta.id !== id) throw corrupt(`document "${id}" holds the metadata of another document`);
  const { chain } = meta;
  if (options.skipChainCheck) return { ...(await loadUnchecked(store, id, hash, dataKey, meta.kind)), sealedMeta };

  const snapshot = await readSnapshot(store, id, hash, dataKey, chain);
  let storedBytes = snapshot?.stored ?? 0;
  const log: StoredDoc["log"] = [];
  let previous = chain.snapshotSeq > 0 ? chain.snapshotHash : noRecordHash;
  let expected = chain.snapshotSeq + 1;
  for await (const [key, value] of store.scan(layout.logPrefix(hash))) {
    const seq = decodeU64(key, key.length - 8);
    if (seq < expected) continue; // folded into the snapshot: a leftover is never read
    if (seq > chain.headSeq) throw corrupt(`the log of "${id}" holds record ${seq} beyond its head ${chain.headSeq}`);
    if (seq !== expected) throw corrupt(`the log of "${id}" is missing record ${expected}`);
    const what = `log record ${seq} of "${id}"`;
    // The chain is in the associated data: a record that is not the successor of the one before fails to open.
    log.push({ seq, delta: decodePayload(open(dataKey, value, logAad(hash, seq, previous), what), what) });
    previous = recordHash(value);
    storedBytes += value.length;
    expected++;
  }
  if (expected - 1 !== chain.headSeq) throw corrupt(`the log of "${id}" ends at ${expected - 1}, its metadata at ${chain.headSeq}`);
  if (!bytesEqual(previous, chain.headHash)) throw corrupt(`the last record of "${id}" is not the one its metadata names`);
  return {
    id, kind: meta.kind, hash, dataKey, chain: { ...chain }, sealedMeta,
    snapshotSeq: chain.snapshotSeq, snapshot: snapshot?.bytes, log, storedBytes,
    recordedVersion: await recordedVersion(store, keyring, id, hash),
  };
}

/** serve-rolled-back-tail (see LoadOptions): the records as they are, their chain rebuilt from them. */
async function loadUnchecked(store: Store, id: string, hash: Uint8Array, dataKey: Uint8Array, kind: StoredDoc["kind"]): Promise<StoredDoc> {
  const record = await store.get(layout.snapshot(hash));
  const snapshotSeq = record && record.length >= 8 ? decodeU64(record) : 0;
  const snapshotHash = record && snapshotSeq > 0 ? recordHash(record) : noRecordHash;
  const what = `the snapshot of "${id}"`;
  const snapshot = record && snapshotSeq > 0
    ? decodePayload(open(dataKey, record.subarray(8), recordAad("snapshot", hash, snapshotSeq), what), what)
    : undefined;
  const log: StoredDoc["log"] = [];
  let previous = snapshotHash;
  let seq = snapshotSeq;
  for await (const [key, value] of store.scan(layout.logPrefix(hash))) {
    if (decodeU64(key, key.length - 8) !== seq + 1) continue;
    seq++;
    const where = `log record ${seq} of "${id}"`;
    log.push({ seq, delta: decodePayload(open(dataKey, value, logAad(hash, seq, previous), where), where) });
    previous = recordHash(value);
  }
  return {
    id, kind, hash, dataKey, chain: { snapshotSeq, snapshotHash, headSeq: seq, headHash: previous }, sealedMeta: undefined,
    snapshotSeq, snapshot, log, storedBytes: 0, recordedVersion: undefined,
  };
}

/** Loads retried while another process keeps writing the document under them, before "unavailable". */
const consistentLoadAttemptsMax = 8;

/**
 * loadStoredDoc, made safe against other processes writing the same store (a
 * region on PostgreSQL): its reads are not one snapshot, so a write landing
 * between them can make a sound document look damaged (a log record beyond
 * the head it read, a snapshot its metadata does not name) or mix two states.
 * Every write to a document rewrites its sealed metadata (a fresh nonce each
 * time, so never the same bytes twice) or expects it unchanged, so metadata
 * that reads the same before and after the load means no write landed in
 * between: the result, or the damage, is real. Otherwise the load runs again.
 */
export async function loadConsistent(store: Store, keyring: Keyring, id: string, options: LoadOptions = {}): Promise<StoredDoc | undefined> {
  const metaKey = layout.meta(keyring.docHash(id));
  const same = (a: Uint8Array | undefined, b: Uint8Array | undefined) => (a === undefined || b === undefined ? a === b : bytesEqual(a, b));
  for (let attempt = 1; ; attempt++) {
    const before = await store.get(metaKey);
    let loaded: StoredDoc | undefined;
    try {
      loaded = await loadStoredDoc(store, keyring, id, options);
    } catch (error) {
      if (!isConcordError(error, "corrupt_record") || same(before, await store.get(metaKey))) throw error;
      // A write landed meanwhile: the damage may be only the mix of two states, so never "corrupt_record" here.
      if (attempt >= consistentLoadAttemptsMax) {
        throw new ConcordError("unavailable", `document "${id}" kept changing while it loaded (${attempt} attempts)`);
      }
      continue;
    }
    if (same(before, await store.get(metaKey))) return loaded;
    if (attempt >= consistentLoadAttemptsMax) {
      throw new ConcordError("unavailable", `document "${id}" kept changing while it loaded (${attempt} attempts)`);
    }
  }
}
