/**
 * Input checks shared by every Store adapter, so each one rejects the same
 * inputs with the same error before touching its medium. Checking the whole
 * batch first is what keeps a bad key from leaving half a batch written.
 */
import { ConcordError } from "../errors.ts";
import { maxKeyBytes, type StoreWrite } from "./store.ts";

/** Throws ConcordError("invalid_argument") unless `key` is a Uint8Array of 1..maxKeyBytes bytes. */
export function checkKey(key: unknown): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array)) throw new ConcordError("invalid_argument", "a store key must be a Uint8Array");
  if (key.length === 0) throw new ConcordError("invalid_argument", "a store key must not be empty");
  if (key.length > maxKeyBytes) {
    throw new ConcordError("invalid_argument", `a store key is ${key.length} bytes; the limit is ${maxKeyBytes}`, {
      details: { keyBytes: key.length, maxKeyBytes },
    });
  }
}

/** Throws ConcordError("invalid_argument") unless `prefix` is a Uint8Array (any length, empty included). */
export function checkPrefix(prefix: unknown): asserts prefix is Uint8Array {
  if (!(prefix instanceof Uint8Array)) throw new ConcordError("invalid_argument", "a scan prefix must be a Uint8Array");
}

/** Checks every entry of `batch`; throws ConcordError("invalid_argument") naming the first bad one. */
export function checkBatch(batch: readonly StoreWrite[]): void {
  if (!Array.isArray(batch)) throw new ConcordError("invalid_argument", "a store write takes an array of entries");
  for (let i = 0; i < batch.length; i++) {
    const entry = batch[i];
    try {
      if (typeof entry !== "object" || entry === null) throw new ConcordError("invalid_argument", "not an object");
      checkKey(entry.key);
      if (entry.value !== undefined && !(entry.value instanceof Uint8Array)) {
        throw new ConcordError("invalid_argument", "a store value must be a Uint8Array or undefined");
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new ConcordError("invalid_argument", `store write entry ${i}: ${message}`, { cause: error });
    }
  }
}

/** The error every adapter throws once a handle is closed (or, in memory, crashed). */
export function closedError(what: string): ConcordError {
  return new ConcordError("closed", `${what} is closed`);
}
