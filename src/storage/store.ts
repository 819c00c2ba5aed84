/**
 * The byte store every adapter implements (memory, LMDB, IndexedDB,
 * PostgreSQL). It never sees plaintext: keys are keyed hashes, values sealed.
 * test/conformance/store.ts is the contract in executable form.
 *
 * Rules shared by every method:
 * - Keys are 1 to `maxKeyBytes` bytes, ordered as unsigned bytes (a proper
 *   prefix sorts first). Any other key is rejected with
 *   ConcordError("invalid_argument"). Values are any length, including 0: an
 *   empty value is stored and is distinct from a missing key.
 * - The store copies what it is given and hands out copies: a caller may
 *   mutate its arrays as soon as a call returns, and may keep or mutate the
 *   arrays it receives.
 * - Failures are ConcordError: "closed" after close() (or, for the in-memory
 *   store, after a simulated crash), "invalid_argument" for a bad key,
 *   "unavailable" when the medium fails a read or write.
 */

/**
 * The longest key every adapter accepts, in bytes. 511 is LMDB's historic
 * compiled-in limit and fits an index entry in PostgreSQL and IndexedDB alike.
 */
export const maxKeyBytes = 511;

export interface StoreWrite {
  key: Uint8Array;
  /** The new value; `undefined` deletes the key (deleting a missing key is a no-op). */
  value?: Uint8Array | undefined;
}

/** One condition of a conditional write: `key` holds exactly `value` (`undefined`: the key is absent). */
export interface StoreExpectation {
  key: Uint8Array;
  value: Uint8Array | undefined;
}

export interface StoreWriteOptions {
  /**
   * Conditions checked atomically with the batch, against the store as the
   * batches before this one left it: if any fails, nothing of the batch is
   * written and the write rejects with ConcordError("conflict"), whose
   * `details.keys` lists the keys (copies) whose expectation failed. How
   * several processes sharing one store (a region on PostgreSQL) write
   * without locks: see src/storage/doc-store.ts.
   */
  expect?: readonly StoreExpectation[];
}

export interface Store {
  /** The value at `key`, or undefined. Sees every write whose promise resolved. */
  get(key: Uint8Array): Promise<Uint8Array | undefined>;
  /**
   * Applies the whole batch atomically: after a crash either all of it or none
   * of it is there. Resolves only once the batch is durable. Batches are
   * applied in call order, so after a crash the batches present are a prefix
   * of those issued. Within a batch, a later entry for the same key wins.
   * The batch is validated before anything is written: one bad key rejects
   * the whole batch and writes nothing. An empty batch is a no-op (its
   * expectations are still checked). See StoreWriteOptions.expect for
   * conditional writes; without expectations the write is unconditional.
   */
  write(batch: readonly StoreWrite[], options?: StoreWriteOptions): Promise<void>;
  /**
   * Every entry whose key starts with `prefix` (all entries for an empty
   * prefix), in ascending unsigned byte order of keys, each key at most once.
   * Entries are read in bounded pages, not under one long snapshot, so a scan
   * may run alongside writes: a key present and unchanged for the whole scan
   * is yielded; a key written or deleted during it may or may not be, and a
   * yielded value was the key's value at some moment during the scan.
   * Stopping early (break, throw) releases everything the scan held.
   */
  scan(prefix: Uint8Array): AsyncIterable<[Uint8Array, Uint8Array]>;
  /**
   * A read-only view of the whole store as of one moment, for backups: it
   * holds exactly the batches that had resolved when the promise resolved
   * (and possibly ones in flight then, each whole or not at all), and no
   * later write. Writes go on while it is held. Release it when done: an
   * adapter may keep old pages alive for it (LMDB) or hold a transaction.
   */
  snapshot(): Promise<StoreSnapshot>;
  /**
   * Waits for writes already issued to settle, then releases the store; later
   * get/write/scan calls reject with ConcordError("closed"). Idempotent: a
   * second call returns the same promise.
   */
  close(): Promise<void>;
}

/** A consistent point-in-time view of a Store (see Store.snapshot). */
export interface StoreSnapshot {
  /** Number of entries in the view. */
  count(): Promise<number>;
  /** Every entry in ascending unsigned byte order of keys, as of the snapshot. Rejects with "closed" after release() or the store's close(). */
  entries(): AsyncIterable<[Uint8Array, Uint8Array]>;
  /** Lets the store drop the view. Idempotent. */
  release(): void;
}
