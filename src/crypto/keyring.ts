/**
 * Envelope encryption for one region. The master key (32 bytes, from a key
 * file, the environment or a KMS hook) never seals user data: it wraps
 *   - the region's index secret, from which the keyed hashes of document ids
 *     and the tombstone key are derived, and
 *   - one random data key per document.
 * Rotating the master key (rotateMasterKey) rewraps those small records
 * only; re-keying a store (src/storage/store-rekey.ts) replaces them and the
 * index secret too. Destroying a document's wrapped data key shreds the
 * document (see DocStore.delete).
 */
import { ConcordError, isConcordError } from "../errors.ts";
import type { Random } from "../runtime/random.ts";
import type { Store } from "../storage/store.ts";
import { bytesEqual, toHex } from "../storage/bytes.ts";
import { docHashBytes, keyIdBytes, layout } from "../storage/doc-store-layout.ts";
import { recordAad } from "./aad.ts";
import { deriveKey, keyedHash } from "./keyed-hash.ts";
import { keyBytes, open, seal } from "./seal.ts";
import { loadSodium } from "./sodium.ts";

export interface Keyring {
  /** 8-byte id of the master key in use: a keyed hash, safe to store in the clear. */
  readonly keyId: Uint8Array;
  /** The storage name of a document id: BLAKE2b-128 under the region's index secret. */
  docHash(id: string): Uint8Array;
  /** A fresh random data key for a new document. */
  newDataKey(): Uint8Array;
  /** The stored form of a data key: key id + the key sealed under the master key. */
  wrapDataKey(docHash: Uint8Array, dataKey: Uint8Array): Uint8Array;
  /** Opens a stored data key; ConcordError "wrong_key" if it is wrapped under another master key. */
  unwrapDataKey(docHash: Uint8Array, wrapped: Uint8Array): Uint8Array;
  /** Region-level key for records that outlive their document's data key (tombstones). */
  readonly regionKey: Uint8Array;
}

export function masterKeyId(masterKey: Uint8Array): Uint8Array {
  return keyedHash(masterKey, "concord/key-id", 16).subarray(0, keyIdBytes);
}

function checkMasterKey(masterKey: Uint8Array): void {
  if (!(masterKey instanceof Uint8Array) || masterKey.length !== keyBytes) {
    throw new ConcordError("invalid_argument", `a master key is ${keyBytes} bytes (got ${masterKey?.length ?? "none"})`);
  }
}


/**
 * Opens the keyring of a data directory with `masterKey`, creating it when the
 * store is empty. Throws ConcordError("wrong_key") — writing nothing — when the
 * store belongs to another master key.
 */
export async function openKeyring(store: Store, masterKey: Uint8Array, random: Random): Promise<Keyring> {
  await loadSodium();
  checkMasterKey(masterKey);
  const keyId = masterKeyId(masterKey);
  let sealedSecret = await store.get(layout.keyring(keyId));
  if (!sealedSecret) {
    const known: string[] = [];
    const records: Array<[Uint8Array, Uint8Array]> = [];
    for await (const [key, value] of store.scan(layout.keyringPrefix())) {
      known.push(toHex(key.subarray(1)));
      records.push([key, value]);
    }
    // A record that opens under this key's id is this key's, with its storage key damaged (a flipped bit):
    // put it back where it belongs rather than call the right master key wrong.
    const misplaced = records.find(([, value]) => opensUnder(masterKey, value, keyId));
    if (misplaced) {
      await store.write([{ key: misplaced[0] }, { key: layout.keyring(keyId), value: misplaced[1] }]);
      return createKeyring(masterKey, keyId, open(masterKey, misplaced[1], recordAad("keyring", null, 0, keyId), "the keyring"), random);
    }
    if (known.length > 0) {
      throw new ConcordError(
        "wrong_key",
        `the master key (id ${toHex(keyId)}) does not open this data directory; it was written under key id ${known.join(", ")}` +
          " (if a key rotation was interrupted, run \"concord keys rotate\" again to finish it)",
      );
    }
    for await (const _ of store.scan(new Uint8Array(0))) {
      throw new ConcordError("corrupt_record", "the data directory holds records but no keyring: it is damaged or not Concord's");
    }
    sealedSecret = seal(masterKey, random.bytes(keyBytes), recordAad("keyring", null, 0, keyId), random);
    // Processes of one region opening an empty shared store at once (PostgreSQL) must agree on one secret:
    // only the first creation lands, and the others read it back.
    try {
      await store.write([{ key: layout.keyring(keyId), value: sealedSecret }], { expect: [{ key: layout.keyring(keyId), value: undefined }] });
    } catch (error) {
      if (!isConcordError(error, "conflict")) throw error;
      return openKeyring(store, masterKey, random);
    }
  }
  const indexSecret = open(masterKey, sealedSecret, recordAad("keyring", null, 0, keyId), "the keyring");
  return createKeyring(masterKey, keyId, indexSecret, random);
}

function opensUnder(masterKey: Uint8Array, sealed: Uint8Array, keyId: Uint8Array): boolean {
  try {
    open(masterKey, sealed, recordAad("keyring", null, 0, keyId), "the keyring");
    return true;
  } catch {
    return false;
  }
}

function createKeyring(masterKey: Uint8Array, keyId: Uint8Array, indexSecret: Uint8Array, random: Random): Keyring {
  const hashKey = deriveKey(indexSecret, "doc-hash");
  return {
    keyId,
    regionKey: deriveKey(indexSecret, "region-records"),
    docHash: (id) => keyedHash(hashKey, id, docHashBytes),
    newDataKey: () => random.bytes(keyBytes),
    wrapDataKey(docHash, dataKey) {
      const sealed = seal(masterKey, dataKey, recordAad("dataKey", docHash, 0, keyId), random);
      const out = new Uint8Array(keyIdBytes + sealed.length);
      out.set(keyId, 0);
      out.set(sealed, keyIdBytes);
      return out;
    },
    unwrapDataKey(docHash, wrapped) {
      const wrappedUnder = wrapped.subarray(0, keyIdBytes);
      if (!bytesEqual(wrappedUnder, keyId)) {
        throw new ConcordError(
          "wrong_key",
          `a data key is wrapped under master key id ${toHex(wrappedUnder)}, not ${toHex(keyId)}: finish the key rotation (concord keys rotate)`,
        );
      }
      return open(masterKey, wrapped.subarray(keyIdBytes), recordAad("dataKey", docHash, 0, keyId), "a data key");
    },
  };
}

export interface RotationProgress {
  rewrapped: number;
  total: number;
}

/**
 * Rewraps the index secret and every data key under `newKey`; afterwards
 * `oldKey` opens nothing in the live records. Resumable: if it is interrupted,
 * both keys' keyring records exist and running it again with the same keys
 * finishes the job. It shreds nothing: the data keys stay the same, and a
 * store's free pages (LMDB) can keep old wrapped keys, which the old master
 * key still opens. A key that may have leaked needs rekeyStore instead.
 */
export async function rotateMasterKey(
  store: Store,
  oldKey: Uint8Array,
  newKey: Uint8Array,
  random: Random,
  options: { batchSize?: number; onProgress?: (progress: RotationProgress) => void } = {},
): Promise<{ rewrapped: number }> {
  await loadSodium();
  checkMasterKey(newKey);
  const batchSize = options.batchSize ?? 512;
  const oldKeyId = masterKeyId(oldKey);
  const newKeyId = masterKeyId(newKey);
  if (bytesEqual(oldKeyId, newKeyId)) throw new ConcordError("invalid_argument", "the new master key equals the old one");
  const oldSealed = await store.get(layout.keyring(oldKeyId));
  // The old keyring record goes last, after every data key moved: without it but with the new one, the work is done.
  if (!oldSealed && (await store.get(layout.keyring(newKeyId)))) return { rewrapped: 0 };
  if (!oldSealed) {
    throw new ConcordError("wrong_key", `the old master key (id ${toHex(oldKeyId)}) does not open this data directory`);
  }
  const indexSecret = open(oldKey, oldSealed, recordAad("keyring", null, 0, oldKeyId), "the keyring");
  const oldRing = createKeyring(oldKey, oldKeyId, indexSecret, random);
  const newRing = createKeyring(newKey, newKeyId, indexSecret, random);
  // The new keyring record goes first, so an interrupted rotation leaves a directory the new key opens.
  await store.write([
    { key: layout.keyring(newKeyId), value: seal(newKey, indexSecret, recordAad("keyring", null, 0, newKeyId), random) },
  ]);

  let total = 0;
  for await (const _ of store.scan(layout.dataKeyPrefix())) total++;
  let rewrapped = 0;
  let batch: Array<{ key: Uint8Array; value: Uint8Array }> = [];
  const flush = async () => {
    if (batch.length === 0) return;
    await store.write(batch);
    rewrapped += batch.length;
    batch = [];
    options.onProgress?.({ rewrapped, total });
  };
  // Collect first: writing while scanning is not part of the Store contract.
  const pending: Array<[Uint8Array, Uint8Array]> = [];
  for await (const entry of store.scan(layout.dataKeyPrefix())) pending.push(entry);
  for (const [key, wrapped] of pending) {
    const docHash = key.subarray(1);
    if (bytesEqual(wrapped.subarray(0, keyIdBytes), newKeyId)) continue; // done by an earlier, interrupted run
    const dataKey = oldRing.unwrapDataKey(docHash, wrapped);
    batch.push({ key, value: newRing.wrapDataKey(docHash, dataKey) });
    if (batch.length >= batchSize) await flush();
  }
  await flush();
  await store.write([{ key: layout.keyring(oldKeyId) }]);
  options.onProgress?.({ rewrapped, total });
  return { rewrapped };
}
