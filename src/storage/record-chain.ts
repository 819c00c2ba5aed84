/**
 * The hash chain that binds a document's records into one set. Each log
 * record's associated data holds the hash of the record before it (the
 * snapshot record, or zeros for the first record of a document that has none),
 * and the document's sealed metadata holds the snapshot's hash and the head:
 * the last sequence and its record's hash. Group commit writes a log record and
 * the metadata that names it in one atomic batch, so after a crash the head
 * always names the last record on disk; a record that is missing, swapped for
 * another, rolled back or left beyond the head breaks the chain.
 *
 * What it cannot see: an older copy of ALL of a document's records (metadata
 * included) is a consistent older state. Only a peer (anti-entropy brings the
 * missing content back) or a marker kept outside the store can tell.
 */
import { recordAad } from "../crypto/aad.ts";
import { keyedHash } from "../crypto/keyed-hash.ts";

export const recordHashBytes = 16;

/** Where a document's record set ends; mutated as records are appended (see DocHandle.chain). */
export interface ChainHead {
  /** The sequence the snapshot covers (0: none). */
  snapshotSeq: number;
  /** Hash of the snapshot record (zeros when there is none). */
  snapshotHash: Uint8Array;
  /** The last sequence stored: the last log record's, or snapshotSeq when the log is empty. */
  headSeq: number;
  /** Hash of the record at headSeq (the snapshot's, or zeros, when the log is empty). */
  headHash: Uint8Array;
}

export const noRecordHash: Uint8Array = new Uint8Array(recordHashBytes);

/** The chain of a document with no records yet. */
export function emptyChain(): ChainHead {
  return { snapshotSeq: 0, snapshotHash: noRecordHash, headSeq: 0, headHash: noRecordHash };
}

/** BLAKE2b over a stored record's bytes, exactly as stored. */
export function recordHash(stored: Uint8Array): Uint8Array {
  return keyedHash(null, stored, recordHashBytes);
}

/** Associated data of log record `seq`: its place plus the hash of the record before it. */
export function logAad(docHash: Uint8Array, seq: number, previousHash: Uint8Array): Uint8Array {
  return recordAad("log", docHash, seq, previousHash);
}
