/**
 * The embedded default Store: one LMDB environment through lmdb-js. Node only.
 *
 * On disk a store is a directory (created if missing) holding LMDB's two
 * files, both gitignored (*.mdb):
 *   data.mdb  the B+tree: raw binary keys and values, no compression (values
 *             are sealed ciphertext, which does not compress)
 *   lock.mdb  the reader table LMDB shares between processes; rebuilt as needed
 *   clean-close.json  present only while the store is closed, after a clean
 *             close: lets the next open skip walking every page of data.mdb
 *             (lmdb-clean-close.ts)
 *
 * Durability: a write resolves only once its transaction is committed and
 * fsynced (see `durabilityOptions`), so an acknowledged write survives a
 * SIGKILL of the process and, as far as the disk honours fsync, a power cut.
 * Group commit comes from lmdb-js: every write issued in one event turn goes
 * into one transaction, and writes issued while a commit is syncing queue
 * for the next one, so one fsync acknowledges many batches.
 */
import { realpath } from "node:fs/promises";
import { join, resolve } from "node:path";
import { open as openLmdb, type RootDatabase } from "lmdb";
import { ConcordError } from "../errors.ts";
import { copyBytes, prefixEnd } from "./bytes.ts";
import { recordCleanClose } from "./lmdb-clean-close.ts";
import { checkLmdbDirectory, lmdbDataFile } from "./lmdb-env-check.ts";
import { checkBatch, checkKey, checkPrefix, closedError } from "./store-checks.ts";
import { checkExpectations, conflictError, unmetKeys } from "./store-expect.ts";
import type { Store, StoreExpectation, StoreSnapshot, StoreWrite } from "./store.ts";

export interface LmdbStoreOptions {
  /** The store's directory; created (with parents) if missing. */
  path: string;
  /** Initial size of LMDB's memory map; lmdb-js grows it as the data grows. Default: lmdb-js's own (128 KiB). */
  mapSizeBytes?: number;
}

/** Scan pages end at this many entries or this many bytes, whichever comes first: bounds memory per step. */
const scanPageEntries = 256;
const scanPageBytes = 1 << 20;

/**
 * lmdb-js settings that make a resolved write durable. Evidence, lmdb 3.5.6:
 * - overlappingSync defaults to true off Windows (open.js). With it, a write
 *   transaction begins with MDB_NOSYNC (src/writer.cpp, WriteWorker::Write)
 *   and the write promise resolves on commit, before the flush (write.js
 *   resolveCommit; README "Overlapping Sync Options": "The write actions
 *   return a promise for when they are committed"). That survives SIGKILL but
 *   not a power cut. Off, mdb_txn_commit() syncs data and meta pages before
 *   the worker marks the transaction committed, so the promise means durable.
 * - noSync / noMetaSync / useWritemap stay off: they trade durability or
 *   integrity for speed (README "noSync ... can result in data loss").
 * - noMemInit stays off so unused parts of pages are zeroed, not filled with
 *   whatever the process heap held (nothing readable at rest).
 * - commitDelay 0 and eventTurnBatching (the default) give group commit
 *   without adding latency.
 */
const durabilityOptions = {
  overlappingSync: false,
  noSync: false,
  noMetaSync: false,
  useWritemap: false,
  noMemInit: false,
  commitDelay: 0,
  eventTurnBatching: true,
} as const;

/** Real paths of stores open in this process: lmdb-js would silently share one environment between two opens. */
const openPaths = new Set<string>();

/**
 * Opens (creating if needed) the LMDB store at `options.path`.
 * Throws ConcordError("corrupt_record") if data.mdb there is not an LMDB
 * file, ConcordError("unavailable") if the path is not a usable directory,
 * cannot be opened, or is already open in this process, and
 * ConcordError("invalid_argument") for bad options. Messages name the path.
 * Other processes may open the same directory (LMDB supports it), but
 * Concord expects one writer per data directory.
 */
export async function openLmdbStore(options: LmdbStoreOptions): Promise<Store> {
  if (typeof options.path !== "string" || options.path.length === 0) {
    throw new ConcordError("invalid_argument", "openLmdbStore needs a directory path");
  }
  const { mapSizeBytes } = options;
  if (mapSizeBytes !== undefined && (!Number.isSafeInteger(mapSizeBytes) || mapSizeBytes <= 0)) {
    throw new ConcordError("invalid_argument", `mapSizeBytes must be a positive integer, got ${mapSizeBytes}`);
  }
  const path = resolve(options.path);
  await checkLmdbDirectory(path);
  const realPath = await realpath(path);
  if (openPaths.has(realPath)) throw new ConcordError("unavailable", `the LMDB store at ${path} is already open in this process`);
  openPaths.add(realPath);
  let db: RootDatabase<Uint8Array, Uint8Array>;
  try {
    db = openLmdb<Uint8Array, Uint8Array>({
      path,
      keyEncoding: "binary",
      encoding: "binary",
      compression: false,
      cache: false,
      ...durabilityOptions,
      ...(mapSizeBytes === undefined ? {} : { mapSize: mapSizeBytes }),
    });
  } catch (cause) {
    openPaths.delete(realPath);
    throw new ConcordError("unavailable", `cannot open the LMDB store at ${path}: ${errorText(cause)}`, { cause });
  }
  return wrapDatabase(db, path, () => openPaths.delete(realPath));
}

function wrapDatabase(db: RootDatabase<Uint8Array, Uint8Array>, path: string, release: () => void): Store {
  const what = `the LMDB store at ${path}`;
  let closing: Promise<void> | undefined;
  // Snapshots hold read transactions, which must end before the environment closes.
  const snapshots = new Set<StoreSnapshot>();
  const ensureOpen = (): void => {
    if (closing !== undefined) throw closedError(what);
  };
  const failed = (action: string, cause: unknown): ConcordError =>
    new ConcordError("unavailable", `${action} ${what} failed: ${errorText(cause)}`, { cause });

  // Set while a conditional write, or a write queued behind one, is outstanding (see write()).
  let ordered: Promise<void> | undefined;
  // lmdb-js copies keys into its instruction buffer during put(), but keeps only a pointer to each value
  // until the commit: values are copied so the caller can reuse its arrays at once.
  const plainWrite = async (batch: readonly StoreWrite[]): Promise<void> => {
    const writes = batch.map((entry) => ({ key: entry.key, value: entry.value && copyBytes(entry.value) }));
    let committed: Promise<boolean>;
    try {
      // One block in the instruction queue: the writer thread does not
      // commit in the middle of a batch (writer.cpp waits while inside a
      // block), so the batch lands whole in one transaction. Validation
      // above matters: an exception thrown inside the callback would still
      // let lmdb-js commit the operations queued before it.
      committed = db.batch(() => {
        for (const { key, value } of writes) {
          if (value === undefined) void db.remove(key);
          else void db.put(key, value);
        }
      });
    } catch (cause) {
      throw failed("a write to", cause);
    }
    try {
      await committed;
    } catch (cause) {
      throw failed("a write to", cause);
    }
  };

  return {
    async get(key) {
      ensureOpen();
      checkKey(key);
      let value: Uint8Array | undefined;
      try {
        value = db.get(key);
      } catch (cause) {
        throw failed("a read from", cause);
      }
      // lmdb-js hands back a Buffer; callers get a plain array they own.
      return value === undefined ? undefined : copyBytes(value);
    },

    async write(batch, options) {
      ensureOpen();
      checkBatch(batch);
      const expect = checkExpectations(options?.expect);
      if (expect.length > 0 || ordered !== undefined) {
        // lmdb-js runs transaction callbacks after the plain writes of the same event turn, not in call
        // order: a conditional write waits for every write issued before it, and later writes wait for it.
        const writes = batch.map((entry) => ({ key: copyBytes(entry.key), value: entry.value && copyBytes(entry.value) }));
        const before: PromiseLike<unknown> = ordered ?? db.committed;
        const run = Promise.resolve(before).catch(() => undefined).then(() =>
          expect.length > 0 ? conditionalWrite(db, writes, expect, what, failed) : plainWrite(writes));
        ordered = run;
        void run.catch(() => undefined).then(() => {
          if (ordered === run) ordered = undefined;
        });
        return run;
      }
      return plainWrite(batch);
    },

    async *scan(prefix) {
      ensureOpen();
      checkPrefix(prefix);
      const end = prefixEnd(prefix);
      // `start` is always passed: without it lmdb-js starts at its default
      // beginning key, which is meant to skip its own metadata keys.
      const range = { start: copyBytes(prefix), ...(end ? { end } : {}) };
      yield* pagedRange(db, range, ensureOpen, (cause) => failed("a scan of", cause));
    },

    async snapshot() {
      ensureOpen();
      let txn: ReturnType<typeof db.useReadTransaction>;
      try {
        txn = db.useReadTransaction();
      } catch (cause) {
        throw failed("a snapshot of", cause);
      }
      const snapshot = readTransactionSnapshot(db, txn, { what, failed, ensureOpen, onRelease: () => snapshots.delete(snapshot) });
      snapshots.add(snapshot);
      return snapshot;
    },

    close() {
      for (const snapshot of snapshots) snapshot.release();
      // lmdb-js's close() waits for outstanding transactions before closing the environment.
      // Once closed, the file is left as its last commit made it: a record of that lets the next open skip
      // the walk of every page (lmdb-clean-close.ts). Written before release(): no open in this process meanwhile.
      // Writes queued behind a conditional one are not in lmdb-js's queue yet: they go first.
      closing ??= Promise.resolve(ordered).catch(() => undefined).then(() => db.close()).then(
        () => recordCleanClose(path, join(path, lmdbDataFile)).finally(release),
        (cause: unknown) => {
          release();
          throw failed("closing", cause);
        },
      );
      return closing;
    },
  };
}

/**
 * A conditional write: one lmdb-js asynchronous transaction whose callback
 * reads the expected keys and writes the batch only if every one holds. The
 * callback runs inside the write transaction, in call order with the other
 * writes of this handle (lmdb-js README, `transaction`), so no write lands
 * between the check and the batch. It returns the unmet keys rather than
 * throwing: lmdb-js would still commit what an aborted callback queued
 * before it threw in some modes, and there is nothing to undo here anyway.
 * Slower than db.batch (a callback on the main thread inside the
 * transaction), so unconditional writes keep the batch path.
 */
async function conditionalWrite(
  db: RootDatabase<Uint8Array, Uint8Array>, batch: readonly StoreWrite[], expect: readonly StoreExpectation[],
  what: string, failed: (action: string, cause: unknown) => ConcordError,
): Promise<void> {
  const writes = batch.map((entry) => ({ key: copyBytes(entry.key), value: entry.value && copyBytes(entry.value) }));
  let unmet: Uint8Array[];
  try {
    unmet = await db.transaction(() => {
      const missing = unmetKeys(expect, (key) => db.get(key));
      if (missing.length > 0) return missing;
      for (const { key, value } of writes) {
        if (value === undefined) db.removeSync(key);
        else db.putSync(key, value);
      }
      return [];
    });
  } catch (cause) {
    throw failed("a write to", cause);
  }
  if (unmet.length > 0) throw conflictError(unmet, what);
}

/**
 * A snapshot over one lmdb-js read transaction (`useReadTransaction`): every
 * page of entries() reads through it, so the whole view is one MVCC moment.
 * `check` runs before every page; it throws once the store is closing.
 */
function readTransactionSnapshot(
  db: RootDatabase<Uint8Array, Uint8Array>,
  txn: ReturnType<RootDatabase["useReadTransaction"]>,
  hooks: { what: string; failed: (action: string, cause: unknown) => ConcordError; ensureOpen: () => void; onRelease: () => void },
): StoreSnapshot {
  const { what, failed } = hooks;
  let released = false;
  const check = () => {
    hooks.ensureOpen();
    if (released) throw closedError(`a released snapshot of ${what}`);
  };
  const snapshot: StoreSnapshot = {
    async count() {
      check();
      try {
        return db.getCount({ transaction: txn, start: new Uint8Array(0) });
      } catch (cause) {
        throw failed("counting a snapshot of", cause);
      }
    },
    async *entries() {
      yield* pagedRange(db, { start: new Uint8Array(0), transaction: txn }, check, (cause) => failed("reading a snapshot of", cause));
    },
    release() {
      if (released) return;
      released = true;
      txn.done();
      hooks.onRelease();
    },
  };
  return snapshot;
}

/**
 * The entries from `range.start` (inclusive) to `range.end` (exclusive; no
 * end: the last key), read in pages of at most scanPageEntries entries or
 * scanPageBytes bytes. Each page's cursor is closed before its entries are
 * yielded, so no cursor stays open while the consumer awaits; with a
 * `transaction`, every page reads the same snapshot. `check` runs before
 * every page and every entry, and throws once the reader must stop.
 */
async function* pagedRange(
  db: RootDatabase<Uint8Array, Uint8Array>,
  range: { start: Uint8Array; end?: Uint8Array; transaction?: ReturnType<RootDatabase["useReadTransaction"]> },
  check: () => void,
  fail: (cause: unknown) => ConcordError,
): AsyncGenerator<[Uint8Array, Uint8Array]> {
  let start = range.start;
  let exclusiveStart = false;
  for (;;) {
    check();
    const page: Array<[Uint8Array, Uint8Array]> = [];
    let pageBytes = 0;
    try {
      for (const { key, value } of db.getRange({ ...range, start, exclusiveStart, limit: scanPageEntries })) {
        page.push([copyBytes(key), copyBytes(value)]);
        pageBytes += key.length + value.length;
        if (pageBytes >= scanPageBytes) break; // break closes the lmdb-js cursor (its iterator's return())
      }
    } catch (cause) {
      throw fail(cause);
    }
    const last = page[page.length - 1];
    // Our own copy of the last key: the consumer may mutate the one it is given.
    if (last) start = copyBytes(last[0]);
    for (const entry of page) {
      check();
      yield entry;
    }
    if (page.length < scanPageEntries && pageBytes < scanPageBytes) return;
    exclusiveStart = true;
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
