/**
 * Where index records live in the byte store (next to doc-store-layout.ts,
 * whose one-byte prefixes these must not reuse; they are the on-disk format):
 *
 *   I docHash(16)                          the document's indexed values (index id → value) and id, sealed by the
 *                                          index key; rewritten in the atomic write of every change that moves them
 *   Q indexId(8) valueHash(16) docHash(16) equality entry: valueHash is a keyed hash of (index, value)
 *   R indexId(8) orderBytes 00 00 docHash(16)  order entry: orderBytes is order-encoding.ts's keyed encoding
 *
 * Entry values are the document's id, sealed by the index key and bound to
 * the entry's key, so a lookup is a prefix scan that opens one small record
 * per result. An index id is a keyed hash of the whole definition, so a
 * redefined index (other path, type or kind) never meets its old entries.
 */
import { recordAad } from "../crypto/aad.ts";
import { deriveKey, keyedHash } from "../crypto/keyed-hash.ts";
import { open, seal } from "../crypto/seal.ts";
import type { Random } from "../runtime/random.ts";
import { concatBytes, toHex } from "../storage/bytes.ts";
import { docHashBytes } from "../storage/doc-store-layout.ts";
import type { IndexDefinition, IndexValue } from "./index-definition.ts";
import { orderEncode, sortableBytes } from "./order-encoding.ts";

export const indexPrefix = { state: 0x49, equality: 0x51, order: 0x52 } as const;
export const indexIdBytes = 8;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The keys of one region's indexes, derived from its region key. */
export interface IndexKeys {
  sealKey: Uint8Array;
  idKey: Uint8Array;
  valueKey: Uint8Array;
  orderKey: Uint8Array;
}

export function deriveIndexKeys(regionKey: Uint8Array): IndexKeys {
  return {
    sealKey: deriveKey(regionKey, "query/seal"),
    idKey: deriveKey(regionKey, "query/index-id"),
    valueKey: deriveKey(regionKey, "query/value"),
    orderKey: deriveKey(regionKey, "query/order"),
  };
}

/** An index as the store knows it: its definition and its keyed id. */
export interface StoredIndex {
  def: IndexDefinition;
  id: Uint8Array;
  /** Hex of `id`: the key of its value in a document's I record. */
  hex: string;
}

export function storedIndex(keys: IndexKeys, def: IndexDefinition): StoredIndex {
  const id = keyedHash(keys.idKey, JSON.stringify([def.name, def.path, def.type, def.kind]), indexIdBytes);
  return { def, id, hex: toHex(id) };
}

export const stateKey = (docHash: Uint8Array) => concatBytes(Uint8Array.of(indexPrefix.state), docHash);

/** Every entry of `index` (its whole key range). */
export const indexEntriesPrefix = (index: StoredIndex) =>
  concatBytes(Uint8Array.of(index.def.kind === "order" ? indexPrefix.order : indexPrefix.equality), index.id);

/** The equality entries of `value` (a prefix scan lists the documents holding it). */
export function equalityPrefix(keys: IndexKeys, index: StoredIndex, value: IndexValue): Uint8Array {
  const valueHash = keyedHash(keys.valueKey, concatBytes(index.id, sortableBytes(index.def.type, value)), 16);
  return concatBytes(Uint8Array.of(indexPrefix.equality), index.id, valueHash);
}

/** The encoded order bytes of `value` (with terminator), or of a string prefix (`open`). */
export function orderBytes(keys: IndexKeys, index: StoredIndex, value: IndexValue, open = false): Uint8Array {
  return orderEncode(deriveKey(keys.orderKey, index.hex), sortableBytes(index.def.type, value), open);
}

/** The key of the entry saying the document `docHash` holds `value` in `index`. */
export function entryKey(keys: IndexKeys, index: StoredIndex, value: IndexValue, docHash: Uint8Array): Uint8Array {
  if (index.def.kind === "equality") return concatBytes(equalityPrefix(keys, index, value), docHash);
  return concatBytes(Uint8Array.of(indexPrefix.order), index.id, orderBytes(keys, index, value), docHash);
}

/** The storage hash of the document an entry key names (its last 16 bytes). */
export const entryDocHash = (key: Uint8Array) => key.subarray(key.length - docHashBytes);

export function sealEntry(keys: IndexKeys, key: Uint8Array, id: string, random: Random): Uint8Array {
  return seal(keys.sealKey, encoder.encode(id), recordAad("indexEntry", null, 0, key), random);
}

/** The document id an entry holds. Throws ConcordError("corrupt_record"). */
export function openEntry(keys: IndexKeys, key: Uint8Array, sealed: Uint8Array): string {
  return decoder.decode(open(keys.sealKey, sealed, recordAad("indexEntry", null, 0, key), "an index entry"));
}

/** A document's indexed values as stored: its id and index id (hex) → value. */
export interface IndexState {
  id: string;
  values: Record<string, IndexValue>;
}

export function sealState(keys: IndexKeys, docHash: Uint8Array, state: IndexState, random: Random): Uint8Array {
  return seal(keys.sealKey, encoder.encode(JSON.stringify(state)), recordAad("indexState", docHash), random);
}

/** Throws ConcordError("corrupt_record"). */
export function openState(keys: IndexKeys, docHash: Uint8Array, sealed: Uint8Array): IndexState {
  const plain = open(keys.sealKey, sealed, recordAad("indexState", docHash), "an index state record");
  return JSON.parse(decoder.decode(plain)) as IndexState;
}
