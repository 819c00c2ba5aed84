/**
 * Conditional writes (StoreWriteOptions.expect), shared by every adapter:
 * the input check and the comparison, so each adapter only has to read the
 * expected keys inside its write transaction and call `unmetKeys`.
 */
import { ConcordError } from "../errors.ts";
import { bytesEqual, copyBytes } from "./bytes.ts";
import { checkKey } from "./store-checks.ts";
import type { StoreExpectation } from "./store.ts";

/** Copies of the expectations (the caller may reuse its arrays); throws ConcordError("invalid_argument") naming the first bad one. */
export function checkExpectations(expect: unknown): StoreExpectation[] {
  if (expect === undefined) return [];
  if (!Array.isArray(expect)) throw new ConcordError("invalid_argument", "write expectations are an array of { key, value }");
  return expect.map((entry: unknown, i) => {
    try {
      if (typeof entry !== "object" || entry === null) throw new ConcordError("invalid_argument", "not an object");
      const { key, value } = entry as Partial<StoreExpectation>;
      checkKey(key);
      if (value !== undefined && !(value instanceof Uint8Array)) throw new ConcordError("invalid_argument", "an expected value must be a Uint8Array or undefined");
      return { key: copyBytes(key), value: value && copyBytes(value) };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new ConcordError("invalid_argument", `write expectation ${i}: ${message}`, { cause: error });
    }
  });
}

/** The keys whose current value (`current(key, index in expect)`, undefined or null when absent) is not the expected one. */
export function unmetKeys(expect: readonly StoreExpectation[], current: (key: Uint8Array, index: number) => Uint8Array | null | undefined): Uint8Array[] {
  const unmet: Uint8Array[] = [];
  for (const [index, { key, value }] of expect.entries()) {
    const now = current(key, index) ?? undefined;
    const same = now === undefined || value === undefined ? now === value : bytesEqual(now, value);
    if (!same) unmet.push(key);
  }
  return unmet;
}

/** The error of a conditional write refused because `keys` changed; nothing of the batch was written. */
export function conflictError(keys: readonly Uint8Array[], what: string): ConcordError {
  return new ConcordError("conflict", `a conditional write to ${what} found ${keys.length} key(s) changed since they were read; nothing was written`, {
    details: { keys: keys.map((k) => copyBytes(k)) },
  });
}

/** The keys a "conflict" error names (empty for any other error). */
export function conflictKeys(error: unknown): Uint8Array[] {
  if (!(error instanceof ConcordError) || error.code !== "conflict") return [];
  const keys = error.details.keys;
  return Array.isArray(keys) ? keys.filter((k): k is Uint8Array => k instanceof Uint8Array) : [];
}
