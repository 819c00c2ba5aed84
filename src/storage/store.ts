/**
 * The byte store every adapter implements (memory, LMDB, IndexedDB,
 * PostgreSQL). It never sees plaintext: keys are keyed hashes, values sealed.
 * test/conformance/store.ts is the contract in executable form.
 */

export interface StoreWrite {
  key: Uint8Array;
  /** The new value; `undefined` deletes the key. */
  value?: Uint8Array | undefined;
}

export interface Store {
  /** The value at `key`, or undefined. Sees every write whose promise resolved. */
  get(key: Uint8Array): Promise<Uint8Array | undefined>;
  /**
   * Applies the whole batch atomically: after a crash either all of it or none
   * of it is there. Resolves only once the batch is durable. Batches are
   * applied in call order.
   */
  write(batch: readonly StoreWrite[]): Promise<void>;
  /** Every entry whose key starts with `prefix`, in ascending unsigned byte order of keys. */
  scan(prefix: Uint8Array): AsyncIterable<[Uint8Array, Uint8Array]>;
  /** Flushes and releases the store; later calls throw ConcordError("closed"). */
  close(): Promise<void>;
}
