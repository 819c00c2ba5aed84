/**
 * Yjs versions: the state vector followed by the delete set, both in lib0
 * varints, clients ascending, delete ranges maximal and ascending. A delete
 * does not move the state vector, so the delete set is what makes "equal
 * version ⇔ equal content" hold. The first part is exactly a V1-encoded state
 * vector, so diff() hands it to Y.encodeStateAsUpdate unchanged.
 *
 * Replicas ask for the version after every write, and computing the delete
 * set from the struct store walks every struct, so each tracked document
 * keeps its delete set up to date from its transactions instead (O(change))
 * and the encoded bytes are cached until the next change.
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

/** Deleted clocks per client as flattened [start, end, start, end, ...]: sorted, maximal, never touching. */
type DeletedRanges = Map<number, number[]>;

interface Tracked {
  deleted: DeletedRanges;
  version: Uint8Array | null;
}

const tracked = new WeakMap<Y.Doc, Tracked>();

/** Starts keeping `doc`'s delete set and version current. Idempotent; O(structs) the first time. */
export function trackYjsVersion(doc: Y.Doc): void {
  trackedFor(doc);
}

function trackedFor(doc: Y.Doc): Tracked {
  const known = tracked.get(doc);
  if (known !== undefined) return known;
  const entry: Tracked = { deleted: new Map(), version: null };
  for (const [client, items] of Y.createDeleteSetFromStructStore(doc.store).clients) {
    entry.deleted.set(client, items.flatMap((item) => [item.clock, item.clock + item.len]));
  }
  doc.on("afterTransactionCleanup", (transaction: Y.Transaction) => {
    let changed = false;
    for (const [client, items] of transaction.deleteSet.clients) {
      for (const item of items) addRange(entry.deleted, client, item.clock, item.clock + item.len);
      changed ||= items.length > 0;
    }
    // GC structs that arrived in this transaction are deleted content too, but no delete set lists them.
    for (const [client, after] of transaction.afterState) {
      const before = transaction.beforeState.get(client) ?? 0;
      if (after <= before) continue;
      changed = true;
      const structs = doc.store.clients.get(client) ?? [];
      for (let i = Y.findIndexSS(structs, before); i < structs.length; i++) {
        const struct = structs[i]!;
        if (struct instanceof Y.GC) addRange(entry.deleted, client, Math.max(struct.id.clock, before), struct.id.clock + struct.length);
      }
    }
    if (changed) entry.version = null;
  });
  tracked.set(doc, entry);
  return entry;
}

/** Adds [start, end) to a client's ranges, merging with ranges it overlaps or touches. */
function addRange(deleted: DeletedRanges, client: number, start: number, end: number): void {
  let ranges = deleted.get(client);
  if (ranges === undefined) {
    ranges = [];
    deleted.set(client, ranges);
  }
  const last = ranges.length - 1;
  // Fast path: deletes mostly extend or follow the last range.
  if (last < 0 || ranges[last]! < start) {
    ranges.push(start, end);
    return;
  }
  // First range whose end reaches `start`.
  let low = 0;
  let high = ranges.length / 2;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (ranges[2 * mid + 1]! < start) low = mid + 1;
    else high = mid;
  }
  let mergedStart = start;
  let mergedEnd = end;
  let next = low;
  while (next < ranges.length / 2 && ranges[2 * next]! <= mergedEnd) {
    mergedStart = Math.min(mergedStart, ranges[2 * next]!);
    mergedEnd = Math.max(mergedEnd, ranges[2 * next + 1]!);
    next++;
  }
  ranges.splice(2 * low, 2 * (next - low), mergedStart, mergedEnd);
}

/** The version bytes of `doc` (see the file header). */
export function encodeYjsVersion(doc: Y.Doc): Uint8Array {
  const entry = trackedFor(doc);
  entry.version ??= encode(doc, entry.deleted);
  // A copy each time: callers own what they get, the cache must not change under us.
  return entry.version.slice();
}

/** The version computed from the struct store alone, ignoring any tracking (for checks and tests). */
export function computeYjsVersion(doc: Y.Doc): Uint8Array {
  const deleted: DeletedRanges = new Map();
  for (const [client, items] of Y.createDeleteSetFromStructStore(doc.store).clients) {
    deleted.set(client, items.flatMap((item) => [item.clock, item.clock + item.len]));
  }
  return encode(doc, deleted);
}

function encode(doc: Y.Doc, deleted: DeletedRanges): Uint8Array {
  const writer = new ByteWriter();
  const clients = [...doc.store.clients.keys()].sort((a, b) => a - b);
  writer.varUint(clients.length);
  for (const client of clients) {
    writer.varUint(client);
    writer.varUint(Y.getState(doc.store, client));
  }
  const deleteClients = [...deleted.keys()].filter((client) => deleted.get(client)!.length > 0).sort((a, b) => a - b);
  writer.varUint(deleteClients.length);
  for (const client of deleteClients) {
    const ranges = deleted.get(client)!;
    writer.varUint(client);
    writer.varUint(ranges.length / 2);
    for (let i = 0; i < ranges.length; i += 2) {
      writer.varUint(ranges[i]!);
      writer.varUint(ranges[i + 1]! - ranges[i]!);
    }
  }
  return writer.finish();
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
  const deleted = trackedFor(doc).deleted;
  for (let i = 0; i < deletes.length; i += 3) {
    const length = deletes[i + 2]!;
    if (length === 0) continue;
    const ranges = deleted.get(deletes[i]!);
    if (ranges === undefined || !coveredBy(ranges, deletes[i + 1]!, deletes[i + 1]! + length)) return false;
  }
  return true;
}

// Ranges are maximal, so a covered range lies inside a single one.
function coveredBy(ranges: number[], start: number, end: number): boolean {
  let low = 0;
  let high = ranges.length / 2 - 1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    if (start < ranges[2 * mid]!) high = mid - 1;
    else if (start >= ranges[2 * mid + 1]!) low = mid + 1;
    else return end <= ranges[2 * mid + 1]!;
  }
  return false;
}
