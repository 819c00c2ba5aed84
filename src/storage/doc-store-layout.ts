/**
 * Where each record lives in the byte store. Every key is a one-byte record
 * prefix followed by keyed hashes and sequence numbers: no key reveals a
 * document id. The prefixes are fixed forever (they are the on-disk format).
 *
 *   K keyId(8)              region keyring: the index secret, sealed by the master key
 *   D docHash(16)           the document's data key, wrapped by the master key
 *   M docHash(16)           sealed metadata: id, kind, and the head of the record chain (snapshot seq and
 *                           hash, last seq and its record's hash), rewritten in the batch of every append and
 *                           compaction (see record-chain.ts)
 *   S docHash(16)           snapshot: seq (u64, authenticated) + sealed compressed engine snapshot
 *   L docHash(16) seq(8)    one sealed delta of the log after the snapshot; its AAD binds the previous record's hash
 *   T docHash(16)           tombstone of a shredded document, sealed by the region key
 *   E                       boot epoch of this region (sealed by the region key): grows on every open
 *   V docHash(16)           the document's id and version hash, sealed by the region key, rewritten in
 *                           the same atomic batch as its appends (anti-entropy starts from these alone);
 *                           sixteen zero bytes for "not known, recompute at open" (see version-records.ts)
 */

import { concatBytes, encodeU64 } from "./bytes.ts";

export const docHashBytes = 16;
export const keyIdBytes = 8;

export const recordPrefix = {
  keyring: 0x4b,
  dataKey: 0x44,
  meta: 0x4d,
  snapshot: 0x53,
  log: 0x4c,
  tombstone: 0x54,
  epoch: 0x45,
  version: 0x56,
} as const;

const key = (prefix: number, ...parts: Uint8Array[]) => concatBytes(Uint8Array.of(prefix), ...parts);

export const layout = {
  keyringPrefix: () => key(recordPrefix.keyring),
  keyring: (keyId: Uint8Array) => key(recordPrefix.keyring, keyId),
  dataKeyPrefix: () => key(recordPrefix.dataKey),
  dataKey: (docHash: Uint8Array) => key(recordPrefix.dataKey, docHash),
  metaPrefix: () => key(recordPrefix.meta),
  meta: (docHash: Uint8Array) => key(recordPrefix.meta, docHash),
  snapshot: (docHash: Uint8Array) => key(recordPrefix.snapshot, docHash),
  logPrefix: (docHash: Uint8Array) => key(recordPrefix.log, docHash),
  log: (docHash: Uint8Array, seq: number) => key(recordPrefix.log, docHash, encodeU64(seq)),
  tombstonePrefix: () => key(recordPrefix.tombstone),
  tombstone: (docHash: Uint8Array) => key(recordPrefix.tombstone, docHash),
  epoch: () => key(recordPrefix.epoch),
  versionPrefix: () => key(recordPrefix.version),
  version: (docHash: Uint8Array) => key(recordPrefix.version, docHash),
};
