/**
 * Reading a key range of Concord's IndexedDB entries in bounded pages. A page
 * is read by one cursor inside one readonly transaction, which ends before the
 * page is handed over: IndexedDB commits a transaction as soon as it has no
 * request pending at the end of a task, so none can stay open while a
 * consumer awaits something else, and a long-lived readonly transaction
 * would hold back every write queued behind it.
 */
import { ConcordError } from "../errors.ts";
import { entriesStoreName, indexedDbError, transactionDone } from "./indexeddb-database.ts";

export type Entry = [Uint8Array, Uint8Array];

/** The IDBKeyRange constructor of the IndexedDB in use (the page's, or fake-indexeddb's in Node). */
export type KeyRangeFactory = Pick<typeof IDBKeyRange, "bound" | "lowerBound">;

/** Keys from `start` (inclusive unless `afterStart`) up to `end` (exclusive; none: to the last key). */
export interface KeySpan {
  start: Uint8Array;
  afterStart: boolean;
  end: Uint8Array | undefined;
}

/** A page and whether a limit ended it (then more entries may follow its last key). */
export interface Page {
  entries: Entry[];
  full: boolean;
}

export function keyRangeOf(keyRange: KeyRangeFactory, span: KeySpan): IDBKeyRange | undefined {
  // An empty key is a valid IndexedDB key that sorts before every other binary key; Concord never stores one.
  if (span.start.length === 0 && span.end === undefined) return undefined;
  return span.end === undefined
    ? keyRange.lowerBound(idbKey(span.start), span.afterStart)
    : keyRange.bound(idbKey(span.start), idbKey(span.end), span.afterStart, true);
}

/**
 * Reads the entries of `range` in ascending key order until the range ends,
 * `maxEntries` entries were read, or `maxBytes` bytes of keys and values
 * (whichever comes first). The arrays returned are fresh: IndexedDB
 * deserializes a new value for every read.
 */
export function readPage(
  db: IDBDatabase,
  range: IDBKeyRange | undefined,
  limits: { maxEntries: number; maxBytes: number },
  action: string,
): Promise<Page> {
  let tx: IDBTransaction;
  let request: IDBRequest<IDBCursorWithValue | null>;
  try {
    tx = db.transaction(entriesStoreName, "readonly");
    request = tx.objectStore(entriesStoreName).openCursor(range);
  } catch (cause) {
    // A connection closing under us throws here rather than failing a request.
    return Promise.reject(indexedDbError(action, cause));
  }
  const done = transactionDone(tx, action);
  const entries: Entry[] = [];
  let bytes = 0;
  let full = false;
  let bad: ConcordError | undefined;
  request.onsuccess = () => {
    const cursor = request.result;
    if (cursor === null) return;
    try {
      const entry: Entry = [keyBytesOf(cursor.primaryKey), valueBytesOf(cursor.value)];
      entries.push(entry);
      bytes += entry[0].length + entry[1].length;
    } catch (error) {
      bad = error as ConcordError;
      return;
    }
    if (entries.length >= limits.maxEntries || bytes >= limits.maxBytes) full = true;
    else cursor.continue();
  };
  return done.then(() => {
    if (bad) throw bad;
    return { entries, full };
  });
}

/** A key as IndexedDB takes it: a view of an ArrayBuffer (one over a SharedArrayBuffer is not a valid key, so it is copied). */
export function idbKey(key: Uint8Array): Uint8Array<ArrayBuffer> {
  return key.buffer instanceof ArrayBuffer ? (key as Uint8Array<ArrayBuffer>) : new Uint8Array(key);
}

/** A stored key as bytes: IndexedDB hands binary keys back as ArrayBuffers. */
export function keyBytesOf(key: IDBValidKey): Uint8Array {
  if (key instanceof ArrayBuffer) return new Uint8Array(key);
  if (ArrayBuffer.isView(key)) return new Uint8Array(key.buffer.slice(key.byteOffset, key.byteOffset + key.byteLength));
  throw new ConcordError("corrupt_record", "the IndexedDB store holds a key that is not binary; it was not written by Concord");
}

/** A stored value as bytes: Concord stores Uint8Arrays; anything else was put there by someone else. */
export function valueBytesOf(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new ConcordError("corrupt_record", "the IndexedDB store holds a value that is not bytes; it was not written by Concord");
}
