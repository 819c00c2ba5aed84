/**
 * Is an Automerge change encoded the way Automerge itself would encode it?
 *
 * Automerge hashes a change by its bytes, but a saved document keeps only
 * the ops and rebuilds each change with its own encoder on load. A change
 * with a non-canonical encoding (found by fuzzing: one flipped bit in a
 * column, checksum fixed) decodes, applies, replicates, and then the saved
 * state fails to load ("mismatching heads") in every region that took it.
 * Re-encoding the decoded change and comparing bytes is linear in the
 * change, where a save-and-load check is linear in the document.
 *
 * Two gaps in Automerge's JS codec are worked around: encodeChange parses
 * float64 values from JSON text and may land one ulp off, so each float op's
 * exact bytes (which decodeChange reports exactly) are put back before the
 * comparison; and it cannot re-encode byte values at all (decodeChange yields
 * a plain array). Where the comparison cannot decide, the caller proves the
 * change with a save and load instead.
 */
import * as Automerge from "@automerge/automerge";
import { invalidUpdate } from "./engine-errors.ts";

export type Canonical = "canonical" | "undecided";

/** "canonical", "undecided" (prove it by save and load), or throws invalid_update "malformed". */
export function checkCanonical(bytes: Uint8Array, decoded: Automerge.DecodedChange): Canonical {
  let again: Uint8Array;
  try {
    again = Automerge.encodeChange(decoded);
  } catch {
    return "undecided";
  }
  if (again.length !== bytes.length) return refuse();
  if (sameBytes(again, bytes)) return "canonical";
  const floats = decoded.ops.filter((op) => op.datatype === "float64" && typeof op.value === "number").map((op) => op.value as number);
  if (floats.length === 0) return refuse();
  // The checksum and hash follow the float bytes, so they differ too: compare with both restored.
  return restoreFloats(again, bytes, floats) && sameBytes(again.subarray(8), bytes.subarray(8)) ? "canonical" : "undecided";
}

function refuse(): never {
  throw invalidUpdate("malformed", "Automerge change is not canonically encoded (a saved document could not reload it)");
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Finds each float's exact little-endian bytes in `original`, in op order,
 * and copies them over `again` at the same offset where `again` holds a
 * value at most two ulps away. False when a float cannot be placed.
 */
function restoreFloats(again: Uint8Array, original: Uint8Array, floats: number[]): boolean {
  let from = 0;
  for (const value of floats) {
    const exact = new Uint8Array(8);
    new DataView(exact.buffer).setFloat64(0, value, true);
    const at = indexOf(original, exact, from);
    if (at < 0) return false;
    if (!nearFloat(again.subarray(at, at + 8), exact)) return false;
    again.set(exact, at);
    from = at + 8;
  }
  return true;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  outer: for (let i = from; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function nearFloat(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== 8) return false;
  const x = new DataView(a.buffer, a.byteOffset, 8).getBigInt64(0, true);
  const y = new DataView(b.buffer, b.byteOffset, 8).getBigInt64(0, true);
  const d = x - y;
  return d >= -2n && d <= 2n;
}
