/**
 * Per-document version records (V): the document's id and version hash,
 * sealed by the region key, from which anti-entropy builds its tree without
 * loading any document. Each is written by group commit in the same atomic
 * batch as the appends it covers, so after a crash it never claims a version
 * the store does not hold.
 */
import { recordAad } from "../crypto/aad.ts";
import { open, seal } from "../crypto/seal.ts";
import { ConcordError } from "../errors.ts";
import type { Random } from "../runtime/random.ts";
import { bytesEqual, concatBytes, toHex } from "./bytes.ts";
import { docHashBytes, layout, recordPrefix } from "./doc-store-layout.ts";
import type { BatchExtra } from "./group-commit.ts";
import type { StoreWrite } from "./store.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The version hash a V record holds when the document's durable version is not
 * known: written with a batch that appends to the document but does not drain
 * the queue (the live version then already includes deltas of later batches).
 * The real hash follows in the batch that drains the queue; if a crash comes
 * first, the replica recomputes it from the document at open. No real version
 * hashes to sixteen zero bytes (a keyed BLAKE2b output).
 */
const unknownVersionHash = new Uint8Array(16);

/** `versionHash` undefined writes the "not known" marker. */
function sealVersion(regionKey: Uint8Array, docHash: Uint8Array, id: string, versionHash: Uint8Array | undefined, random: Random): Uint8Array {
  return seal(regionKey, concatBytes(versionHash ?? unknownVersionHash, encoder.encode(id)), recordAad("version", docHash), random);
}

/** The id and version hash (undefined: not known, see above). Throws ConcordError("corrupt_record"). */
export function openVersion(regionKey: Uint8Array, docHash: Uint8Array, sealed: Uint8Array): { id: string; versionHash: Uint8Array | undefined } {
  const plain = open(regionKey, sealed, recordAad("version", docHash), "a version record");
  if (plain.length < 16) throw new ConcordError("corrupt_record", "a version record is truncated");
  const hash = plain.slice(0, 16);
  return { id: decoder.decode(plain.subarray(16)), versionHash: bytesEqual(hash, unknownVersionHash) ? undefined : hash };
}

/** A document whose version record is due, and how to read its live version. */
interface Dirty {
  doc: { readonly id: string; readonly hash: Uint8Array; readonly sealedMeta?: Uint8Array | undefined };
  versionHash: () => Uint8Array;
}

export interface VersionRecords {
  /** The record for `doc` at `versionHash` (undefined: not known). */
  record(doc: Dirty["doc"], versionHash: Uint8Array | undefined): StoreWrite;
  /** Notes that `doc` changed; `versionHash()` is read when a batch that drains the queue is cut. */
  markChanged(doc: Dirty["doc"], versionHash: () => Uint8Array): void;
  /** Drops a pending record (the document is being deleted or replaced). */
  forget(docHash: Uint8Array): void;
  /**
   * Group commit's beforeBatch: the version records that join a batch, each
   * expecting its document's metadata to be the one its handle last wrote.
   * A record describes the writer's live document, so it is true only over
   * the records that writer made: another process's append in between makes
   * it conflict and it is dropped, instead of naming an older version than
   * the log holds (which a load would take for a rolled-back record set).
   */
  forBatch(drainsQueue: boolean, batch: readonly StoreWrite[]): BatchExtra;
}

export function createVersionRecords(regionKey: Uint8Array, random: Random): VersionRecords {
  const dirty = new Map<string, Dirty>();
  const record = (doc: Dirty["doc"], versionHash: Uint8Array | undefined): StoreWrite => ({
    key: layout.version(doc.hash),
    value: sealVersion(regionKey, doc.hash, doc.id, versionHash, random),
  });
  const known = (versionHash: () => Uint8Array): Uint8Array | undefined => {
    try {
      return versionHash();
    } catch {
      // An engine that cannot say its version must not fail the appends of every document in the batch.
      return undefined;
    }
  };
  return {
    record,
    markChanged(doc, versionHash) {
      dirty.set(toHex(doc.hash), { doc, versionHash });
    },
    forget(docHash) {
      dirty.delete(toHex(docHash));
    },
    forBatch(drainsQueue, batch) {
      if (dirty.size === 0) return { writes: [], expect: [] };
      const expect = (docs: Iterable<Dirty["doc"]>) => [...docs].map((doc) => ({ key: layout.meta(doc.hash), value: doc.sealedMeta }));
      if (drainsQueue) {
        // Every applied delta is in this batch or an earlier one: the live version is the durable one.
        const entries = [...dirty.values()];
        const writes = entries.map(({ doc, versionHash }) => record(doc, known(versionHash)));
        dirty.clear();
        return { writes, expect: expect(entries.map((e) => e.doc)) };
      }
      // Later batches hold deltas the live version already includes: a document appended to here is recorded
      // as "not known", so a crash before the last batch cannot leave its old version over newer content.
      const appended = new Set<string>();
      for (const { key } of batch) {
        if (key[0] === recordPrefix.log) appended.add(toHex(key.subarray(1, 1 + docHashBytes)));
      }
      const writes: StoreWrite[] = [];
      const docs: Array<Dirty["doc"]> = [];
      for (const hex of appended) {
        const entry = dirty.get(hex);
        if (entry) {
          writes.push(record(entry.doc, undefined));
          docs.push(entry.doc);
        }
      }
      return { writes, expect: expect(docs) };
    },
  };
}
