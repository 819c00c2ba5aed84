/** BLAKE2b keyed hashing: storage keys, key ids and version digests. */
import { sodium } from "./sodium.ts";

const encoder = new TextEncoder();

/** BLAKE2b of `data` under `key`, `outBytes` long (16..64). */
export function keyedHash(key: Uint8Array | null, data: Uint8Array | string, outBytes: number): Uint8Array {
  const input = typeof data === "string" ? encoder.encode(data) : data;
  return sodium().crypto_generichash(outBytes, input, key);
}

/** A domain-separated key: BLAKE2b(key, "concord/" + purpose). Keys for different purposes never coincide. */
export function deriveKey(key: Uint8Array, purpose: string): Uint8Array {
  return keyedHash(key, `concord/${purpose}`, 32);
}
