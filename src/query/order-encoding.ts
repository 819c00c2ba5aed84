/**
 * The order-revealing encoding of `order` indexes: a keyed, strictly
 * monotone map from a value's sortable bytes to key bytes, so a byte-ordered
 * prefix scan walks the index in value order without the value being
 * written anywhere.
 *
 * Each plaintext byte b at position i becomes two bytes f_i(b), where f_i is
 * a strictly increasing function drawn from a keyed hash of everything before
 * position i (so equal bytes under different prefixes map differently).
 * Strictly increasing per position keeps lexicographic order; a two-byte
 * terminator 00 00 (below every f_i(b) >= 0x0100) keeps a shorter value
 * before its extensions.
 *
 * What it reveals to someone holding the disk (documented in the README):
 * the order of values, which are equal, their lengths, the length of the
 * common prefix of two values, and, as with every order-preserving encoding,
 * each byte roughly (f_i is a noisy rescaling of b). That is why an index
 * is `equality` unless the operator asks for `order`.
 */
import { keyedHash } from "../crypto/keyed-hash.ts";
import type { IndexType, IndexValue } from "./index-definition.ts";

const encoder = new TextEncoder();

/** Strings longer than this (in UTF-8 bytes) are left out of order indexes: keys are bounded (store.ts maxKeyBytes). */
export const maxOrderStringBytes = 200;

/** Bytes whose unsigned order is the value's order: UTF-8 for strings (code point order), flipped IEEE 754 for numbers. */
export function sortableBytes(type: IndexType, value: IndexValue): Uint8Array {
  if (type === "boolean") return Uint8Array.of(value ? 1 : 0);
  if (type === "string") return encoder.encode(value as string);
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setFloat64(0, Object.is(value, -0) ? 0 : (value as number));
  // Negative numbers: flip every bit (larger magnitude sorts first); others: flip the sign bit.
  if (out[0]! & 0x80) for (let i = 0; i < 8; i++) out[i] = ~out[i]! & 0xff;
  else out[0]! |= 0x80;
  return out;
}

/** Compares two values of one type in index order (what an order index walks). */
export function compareIndexValues(type: IndexType, a: IndexValue, b: IndexValue): number {
  const x = sortableBytes(type, a);
  const y = sortableBytes(type, b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

/** f(b) for one position, from a 32-byte position seed: 0x100 + the sum of b + 1 keyed increments in 1..254. */
function mapByte(seed: Uint8Array, b: number): number {
  let sum = 0x100;
  let stream: Uint8Array = new Uint8Array(0);
  for (let j = 0; j <= b; j++) {
    if (j % 64 === 0) stream = keyedHash(seed, Uint8Array.of(j >> 6), 64);
    sum += 1 + (stream[j % 64]! % 254);
  }
  return sum - 1; // the smallest is 0x100 (j = 0 adds at least 1)
}

/**
 * The encoded bytes of `plain` under `key` (2 bytes per plaintext byte), with
 * the terminator unless `open` (a prefix query wants the encoding of a prefix,
 * which every extension of it starts with).
 */
export function orderEncode(key: Uint8Array, plain: Uint8Array, open = false): Uint8Array {
  const out = new Uint8Array(plain.length * 2 + (open ? 0 : 2));
  let seed = keyedHash(key, "position-0", 32);
  for (let i = 0; i < plain.length; i++) {
    const b = plain[i]!;
    const code = mapByte(seed, b);
    out[2 * i] = code >> 8;
    out[2 * i + 1] = code & 0xff;
    seed = keyedHash(key, new Uint8Array([...seed, b]), 32);
  }
  return out;
}
