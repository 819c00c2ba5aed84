/**
 * Yjs versions: the state vector followed by the delete set, both in lib0
 * varints, clients ascending, delete ranges maximal and ascending. A delete
 * does not move the state vector, so the delete set is what makes "equal
 * version ⇔ equal content" hold. The first part is exactly a V1-encoded state
 * vector, so diff() hands it to Y.encodeStateAsUpdate unchanged.
 *
 * Computing it walks every struct, so it is cached per document and dropped
 * on every transaction.
 */
import * as Y from "yjs";
import { ByteReader } from "./byte-reader.ts";
import { ByteWriter } from "./byte-writer.ts";
import { invalidUpdate } from "./engine-errors.ts";

/** A version taken apart. */
export interface YjsVersion {
  stateVector: Map<number, number>;
  /** The state-vector part of the bytes, a valid V1 state vector. */
  stateVectorBytes: Uint8Array;
  /** Flattened [client, clock, length, ...]. */
  deletes: number[];
}

interface Cached {
  version: Uint8Array | null;
  deleteSet: Map<number, Array<{ clock: number; len: number }>> | null;
}

const cache = new WeakMap<Y.Doc, Cached>();

function cachedFor(doc: Y.Doc): Cached {
  let entry = cache.get(doc);
  if (entry === undefined) {
    const created: Cached = { version: null, deleteSet: null };
    doc.on("afterTransaction", () => {
      created.version = null;
      created.deleteSet = null;
    });
    cache.set(doc, created);
    entry = created;
  }
  return entry;
}

/** Starts tracking `doc` so later version() calls can be served from the cache. */
export function trackYjsVersion(doc: Y.Doc): void {
  cachedFor(doc);
}

function deleteSetOf(doc: Y.Doc, entry: Cached): Map<number, Array<{ clock: number; len: number }>> {
  entry.deleteSet ??= Y.createDeleteSetFromStructStore(doc.store).clients;
  return entry.deleteSet;
}

/** The version bytes of `doc` (see the file header). */
export function encodeYjsVersion(doc: Y.Doc): Uint8Array {
  const entry = cachedFor(doc);
  // A copy each time: callers own what they get, the cache must not change under us.
  if (entry.version !== null) return entry.version.slice();
  const writer = new ByteWriter();
  const clients = [...doc.store.clients.keys()].sort((a, b) => a - b);
  writer.varUint(clients.length);
  for (const client of clients) {
    writer.varUint(client);
    writer.varUint(Y.getState(doc.store, client));
  }
  const deleteSet = deleteSetOf(doc, entry);
  const deleteClients = [...deleteSet.keys()].sort((a, b) => a - b);
  writer.varUint(deleteClients.length);
  for (const client of deleteClients) {
    const ranges = deleteSet.get(client)!;
    writer.varUint(client);
    writer.varUint(ranges.length);
    for (const range of ranges) {
      writer.varUint(range.clock);
      writer.varUint(range.len);
    }
  }
  entry.version = writer.finish();
  return entry.version.slice();
}

/** Parses version bytes. Throws ConcordError("invalid_update", reason "malformed"). */
export function decodeYjsVersion(bytes: Uint8Array): YjsVersion {
  try {
    const reader = new ByteReader(bytes);
    const stateVector = new Map<number, number>();
    const clients = reader.count();
    for (let i = 0; i < clients; i++) {
      const client = reader.varUint();
      stateVector.set(client, reader.varUint());
    }
    const stateVectorBytes = bytes.subarray(0, reader.pos);
    const deletes: number[] = [];
    const deleteClients = reader.count();
    for (let i = 0; i < deleteClients; i++) {
      const client = reader.varUint();
      const ranges = reader.count();
      for (let j = 0; j < ranges; j++) deletes.push(client, reader.varUint(), reader.varUint());
    }
    if (reader.remaining !== 0) throw new Error("trailing bytes");
    return { stateVector, stateVectorBytes, deletes };
  } catch (cause) {
    throw invalidUpdate("malformed", "version bytes do not decode", { cause });
  }
}

/** True when `doc` has every struct and every delete the version names. */
export function yjsIncludes(doc: Y.Doc, version: YjsVersion): boolean {
  for (const [client, clock] of version.stateVector) {
    if (Y.getState(doc.store, client) < clock) return false;
  }
  const deletes = version.deletes;
  if (deletes.length === 0) return true;
  const deleteSet = deleteSetOf(doc, cachedFor(doc));
  for (let i = 0; i < deletes.length; i += 3) {
    const length = deletes[i + 2]!;
    if (length === 0) continue;
    const ranges = deleteSet.get(deletes[i]!);
    if (ranges === undefined || !coveredBy(ranges, deletes[i + 1]!, length)) return false;
  }
  return true;
}

// Ranges are maximal runs, so a covered range lies inside a single one.
function coveredBy(ranges: Array<{ clock: number; len: number }>, clock: number, length: number): boolean {
  let low = 0;
  let high = ranges.length - 1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    const range = ranges[mid]!;
    if (clock < range.clock) high = mid - 1;
    else if (clock >= range.clock + range.len) low = mid + 1;
    else return clock + length <= range.clock + range.len;
  }
  return false;
}
