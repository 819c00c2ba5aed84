/**
 * The Store of an embedded replica in a browser: one IndexedDB database per
 * app (src/storage/indexeddb-database.ts), entries in one object store under
 * binary keys, which IndexedDB orders as unsigned bytes, a proper prefix
 * first: the Store's own order. Browser-safe; in Node it runs on
 * fake-indexeddb (the conformance suite runs it both there and in Chromium).
 *
 * - Durability: each write() is one readwrite transaction opened with
 *   durability "strict" (the browser flushes before `complete`; Chromium's
 *   default, "relaxed", may lose the last writes at a power cut), resolved on
 *   `complete`. Transactions over the same object store run in creation
 *   order, so batches apply in call order, each whole or not at all.
 * - One writer: the store holds a Web Lock on its name while open (see
 *   indexeddb-lock.ts); a second store on the same name, in this tab or
 *   another, is refused with "locked".
 * - Errors: "storage_full" when the browser's quota refuses a write (nothing
 *   of it is written), "unavailable" when the database is blocked, deleted or
 *   upgraded by another page, or closed by the browser, "closed" after close().
 */
import { ConcordError } from "../errors.ts";
import { prefixEnd } from "./bytes.ts";
import {
  entriesStoreName,
  indexedDbError,
  openDatabase,
  requestResult,
  resolveFactory,
  transactionDone,
  type IndexedDbLocation,
} from "./indexeddb-database.ts";
import { lockStore, type ReleaseLock } from "./indexeddb-lock.ts";
import { idbKey, keyRangeOf, readPage, valueBytesOf, type Entry, type KeyRangeFactory, type KeySpan } from "./indexeddb-range.ts";
import { checkBatch, checkKey, checkPrefix, closedError } from "./store-checks.ts";
import { checkExpectations, conflictError, unmetKeys } from "./store-expect.ts";
import type { Store, StoreExpectation, StoreSnapshot, StoreWrite, StoreWriteOptions } from "./store.ts";

export interface IndexedDbStoreOptions extends IndexedDbLocation {
  /** The IDBKeyRange that goes with `indexedDB`. Default: `globalThis.IDBKeyRange`. */
  IDBKeyRange?: KeyRangeFactory | undefined;
  /**
   * snapshot() copies the store into memory (IndexedDB cannot hold a
   * transaction open while a caller awaits); over this many bytes of keys
   * and values it fails with "too_large". Default 256 MiB.
   */
  snapshotMaxBytes?: number;
}

/** Scan pages end at this many entries or this many bytes, whichever comes first: bounds memory per step. */
const scanPageEntries = 256;
const scanPageBytes = 1 << 20;

/**
 * A Store on the IndexedDB database `options.name`, created if missing. It
 * returns at once and opens in the background; an open that fails (no
 * IndexedDB, blocked, "locked" by another tab, a newer build's database)
 * rejects every call, the first of which is usually openReplica's. Throws
 * ConcordError "invalid_argument" for bad options and "unavailable" when
 * there is no IndexedDB at all.
 */
export function createIndexedDbStore(options: IndexedDbStoreOptions): Store {
  const factory = resolveFactory(options);
  const keyRange = options.IDBKeyRange ?? (globalThis as { IDBKeyRange?: KeyRangeFactory }).IDBKeyRange;
  if (keyRange === undefined) throw new ConcordError("unavailable", "IndexedDB's IDBKeyRange is not available here (pass `IDBKeyRange`)");
  const snapshotMaxBytes = options.snapshotMaxBytes ?? 256 * 1024 * 1024;
  if (!Number.isSafeInteger(snapshotMaxBytes) || snapshotMaxBytes <= 0) {
    throw new ConcordError("invalid_argument", `snapshotMaxBytes must be a positive integer, got ${snapshotMaxBytes}`);
  }
  return new IndexedDbStore(factory, options.name, keyRange, snapshotMaxBytes);
}

class IndexedDbStore implements Store {
  private db: IDBDatabase | undefined;
  private readonly opened: Promise<IDBDatabase>;
  private releaseLock: ReleaseLock | undefined;
  /** Why the connection is gone when the browser or another page took it away ("unavailable" from then on). */
  private lost: string | undefined;
  private closing: Promise<void> | undefined;
  /** Writes issued before the database was open, in call order: they start, in that order, as it opens. */
  private readonly waiting: Array<(db: IDBDatabase) => void> = [];
  /** Writes not yet settled: close() waits for them. */
  private readonly inFlight = new Set<Promise<void>>();
  private readonly what: string;

  constructor(
    factory: IDBFactory,
    private readonly name: string,
    private readonly keyRange: KeyRangeFactory,
    private readonly snapshotMaxBytes: number,
  ) {
    this.what = `the IndexedDB store "${name}"`;
    this.opened = this.open(factory);
    // Every call awaits `opened` and reports its failure; this only keeps an unused store from an unhandled rejection.
    this.opened.catch(() => undefined);
  }

  private async open(factory: IDBFactory): Promise<IDBDatabase> {
    this.releaseLock = await lockStore(this.name);
    let db: IDBDatabase;
    try {
      db = await openDatabase(factory, this.name);
    } catch (error) {
      await this.releaseLock?.();
      throw error;
    }
    db.onversionchange = () => {
      // Another page upgrades or deletes the database: let it, and fail from now on rather than block it.
      this.lost = "another page upgraded or deleted the database";
      db.close();
    };
    db.onclose = () => {
      this.lost = "the browser closed the database (site data cleared, or the disk failed)";
    };
    this.db = db;
    for (const start of this.waiting.splice(0)) start(db);
    return db;
  }

  private ensureOpen(): void {
    if (this.closing !== undefined) throw closedError(this.what);
    if (this.lost !== undefined) throw new ConcordError("unavailable", `${this.what} is no longer usable: ${this.lost}`);
  }

  /** The open database, after checking the handle. Rejects with the open's error if it failed. */
  private async database(): Promise<IDBDatabase> {
    this.ensureOpen();
    const db = this.db ?? (await this.opened);
    this.ensureOpen();
    return db;
  }

  /** A new transaction on the entries; a synchronous throw (a connection closing under us) becomes a ConcordError. */
  private transaction(db: IDBDatabase, mode: IDBTransactionMode, action: string): IDBTransaction {
    try {
      return mode === "readwrite" ? db.transaction(entriesStoreName, mode, { durability: "strict" }) : db.transaction(entriesStoreName, mode);
    } catch (cause) {
      throw indexedDbError(`${action} ${this.what}`, cause);
    }
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    this.ensureOpen();
    checkKey(key);
    const db = await this.database();
    const action = `reading from ${this.what}`;
    let value: unknown;
    try {
      const tx = this.transaction(db, "readonly", "reading from");
      // Both settle on failure (the request's error aborts the transaction): await both, leave neither unhandled.
      [value] = await Promise.all([requestResult(tx.objectStore(entriesStoreName).get(idbKey(key)), action), transactionDone(tx, action)]);
    } catch (cause) {
      throw indexedDbError(action, cause);
    }
    return value === undefined ? undefined : valueBytesOf(value);
  }

  write(batch: readonly StoreWrite[], options?: StoreWriteOptions): Promise<void> {
    let expect: StoreExpectation[];
    try {
      this.ensureOpen();
      checkBatch(batch);
      expect = checkExpectations(options?.expect); // copies: the reads happen later, in the transaction
    } catch (error) {
      return Promise.reject(error);
    }
    if (batch.length === 0 && expect.length === 0) return Promise.resolve();
    let written: Promise<void>;
    if (this.db !== undefined && expect.length === 0) {
      // put() clones keys and values synchronously, so the caller may reuse its arrays once we return.
      written = this.commit(this.db, batch, expect);
    } else {
      const copies = batch.map((entry) => ({ key: entry.key.slice(), value: entry.value?.slice() }));
      written = this.db !== undefined
        ? this.commit(this.db, copies, expect)
        : new Promise<IDBDatabase>((resolve) => this.waiting.push(resolve)).then((db) => this.commit(db, copies, expect));
      // If the open fails, nothing resolves `waiting`: fail the write with the open's error instead.
      written = Promise.race([written, this.opened.then(() => new Promise<never>(() => undefined))]);
    }
    const tracked = written.finally(() => this.inFlight.delete(tracked));
    tracked.catch(() => undefined);
    this.inFlight.add(tracked);
    return written;
  }

  /**
   * One readwrite transaction for the whole batch, resolved on `complete`. Never throws: a failure rejects.
   * With expectations, the transaction first reads the expected keys and writes the batch from the last
   * read's callback (a transaction stays active only inside its requests' callbacks); if one does not
   * hold, it aborts and the write rejects with "conflict".
   */
  private commit(db: IDBDatabase, batch: readonly StoreWrite[], expect: readonly StoreExpectation[]): Promise<void> {
    const action = `writing to ${this.what}`;
    let tx: IDBTransaction;
    try {
      tx = this.transaction(db, "readwrite", "writing to");
    } catch (error) {
      return Promise.reject(error);
    }
    const done = transactionDone(tx, action);
    const entries = tx.objectStore(entriesStoreName);
    let failure: ConcordError | undefined;
    const putAll = () => {
      try {
        for (const { key, value } of batch) {
          if (value === undefined) entries.delete(idbKey(key));
          // A view of part of a larger buffer would be cloned with all of it: store exactly its bytes.
          else entries.put(value.byteOffset === 0 && value.byteLength === value.buffer.byteLength ? value : value.slice(), idbKey(key));
        }
      } catch (cause) {
        // A put that throws (DataCloneError, a connection closing) leaves the batch unfinished: undo all of it.
        failure = indexedDbError(action, cause);
        tx.abort();
      }
    };
    if (expect.length === 0) putAll();
    else this.checkThen(entries, expect, putAll, (unmet) => {
      failure = conflictError(unmet, this.what);
      tx.abort();
    });
    return done.then(
      () => (failure ? Promise.reject(failure) : undefined),
      (error: unknown) => Promise.reject(failure ?? error),
    );
  }

  /** Reads every expected key in the transaction, then calls `met` or `unmet` from the last read's callback. */
  private checkThen(entries: IDBObjectStore, expect: readonly StoreExpectation[], met: () => void, unmet: (keys: Uint8Array[]) => void): void {
    const found: Array<Uint8Array | undefined> = [];
    let answered = 0;
    for (const [index, { key }] of expect.entries()) {
      const request = entries.get(idbKey(key));
      request.onsuccess = () => {
        found[index] = request.result === undefined ? undefined : valueBytesOf(request.result);
        if (++answered < expect.length) return;
        const keys = unmetKeys(expect, (_, i) => found[i]);
        if (keys.length === 0) met();
        else unmet(keys);
      };
    }
  }

  async *scan(prefix: Uint8Array): AsyncGenerator<Entry> {
    this.ensureOpen();
    checkPrefix(prefix);
    const span: KeySpan = { start: prefix.slice(), afterStart: false, end: prefixEnd(prefix) };
    for (;;) {
      const db = await this.database();
      const page = await readPage(db, keyRangeOf(this.keyRange, span), { maxEntries: scanPageEntries, maxBytes: scanPageBytes }, `scanning ${this.what}`);
      const last = page.entries[page.entries.length - 1];
      // Our own copy of the last key: the consumer may mutate the one it is given.
      if (last) span.start = last[0].slice();
      span.afterStart = true;
      for (const entry of page.entries) {
        this.ensureOpen();
        yield entry;
      }
      if (!page.full) return;
    }
  }

  async snapshot(): Promise<StoreSnapshot> {
    const db = await this.database();
    // One readonly transaction sees every write that completed before it and none started after it.
    const page = await readPage(db, undefined, { maxEntries: Number.POSITIVE_INFINITY, maxBytes: this.snapshotMaxBytes + 1 }, `copying ${this.what}`);
    if (page.full) {
      throw new ConcordError("too_large", `${this.what} holds more than snapshotMaxBytes (${this.snapshotMaxBytes}) bytes; a snapshot copies it into memory`);
    }
    return memorySnapshot(page.entries, () => this.ensureOpen(), this.what);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled([...this.inFlight]);
      const db = await this.opened.catch(() => undefined);
      // IndexedDB's close() lets transactions already started finish; none are left after the wait above.
      db?.close();
      await this.releaseLock?.();
    })();
    return this.closing;
  }
}

/** A snapshot held as a copy of the entries, in key order. */
function memorySnapshot(entries: readonly Entry[], ensureOpen: () => void, what: string): StoreSnapshot {
  let released = false;
  const check = (): void => {
    ensureOpen();
    if (released) throw closedError(`a released snapshot of ${what}`);
  };
  return {
    async count() {
      check();
      return entries.length;
    },
    async *entries() {
      check();
      for (const [key, value] of entries) {
        check();
        yield [key.slice(), value.slice()];
      }
    },
    release() {
      released = true;
    },
  };
}
