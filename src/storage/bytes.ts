/**
 * Small pure helpers over Uint8Array used by every storage adapter and by the
 * key layouts above them. No Node built-ins: browser code (the IndexedDB
 * adapter, the embedded library) imports this file too.
 */
import { ConcordError } from "../errors.ts";

/** Unsigned lexicographic order: -1, 0 or 1. A proper prefix sorts first. */
export function compareBytes(a: Uint8Array, b: Uint8Array): -1 | 0 | 1 {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (prefix.length > bytes.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/**
 * The smallest key greater than every key that starts with `prefix`, so a
 * prefix scan is the half-open range [prefix, prefixEnd(prefix)). Undefined
 * when no such key exists: the prefix is empty or all 0xff, and the range is
 * open-ended.
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array | undefined {
  // Drop trailing 0xff bytes (they cannot be incremented), then bump the last byte.
  for (let i = prefix.length - 1; i >= 0; i--) {
    const byte = prefix[i]!;
    if (byte !== 0xff) {
      const end = prefix.slice(0, i + 1);
      end[i] = byte + 1;
      return end;
    }
  }
  return undefined;
}

/** A fresh array holding `parts` back to back. */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** `parts` back to back, each after its length as a u32 big-endian (sync batches, HTTP delta sequences). */
export function lengthPrefixed(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + 4 + part.length, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const part of parts) {
    view.setUint32(at, part.length);
    out.set(part, at + 4);
    at += 4 + part.length;
  }
  return out;
}

/**
 * A plain Uint8Array copy (never a Buffer or other subclass, never a view of
 * shared memory), so callers may keep or mutate it freely.
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}

const hexDigits = "0123456789abcdef";
const byteToHex: string[] = [];
for (let i = 0; i < 256; i++) byteToHex.push(hexDigits[i >> 4]! + hexDigits[i & 15]!);

/** Lower-case hex, two digits per byte. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += byteToHex[bytes[i]!]!;
  return out;
}

/** Inverse of `toHex`; accepts either case. Throws ConcordError("invalid_argument") on odd length or a non-hex digit. */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0) throw new ConcordError("invalid_argument", `hex string has odd length ${hex.length}`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = hexValue(hex.charCodeAt(2 * i));
    const lo = hexValue(hex.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) throw new ConcordError("invalid_argument", `not a hex digit at offset ${2 * i}`);
    out[i] = (hi << 4) | lo;
  }
  return out;
}

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48; // 0-9
  if (code >= 97 && code <= 102) return code - 87; // a-f
  if (code >= 65 && code <= 70) return code - 55; // A-F
  return -1;
}

/**
 * One char per byte (code points 0..255). Such strings compare with `<` in
 * unsigned byte order, which makes them good Map keys for an in-memory index.
 */
export function toByteString(bytes: Uint8Array): string {
  let out = "";
  // Chunked: String.fromCharCode has an argument-count limit.
  for (let i = 0; i < bytes.length; i += 4096) {
    out += String.fromCharCode(...bytes.subarray(i, Math.min(bytes.length, i + 4096)));
  }
  return out;
}

/** Inverse of `toByteString`. */
export function fromByteString(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/** 2^32, for splitting a u64 into two u32 halves. */
const u32Span = 0x1_0000_0000;

/**
 * 8 bytes, big-endian, so byte order equals numeric order (sequence numbers
 * in keys). Only integers in [0, 2^53 - 1]: every value round-trips through a
 * JS number. Throws ConcordError("invalid_argument") otherwise.
 */
export function encodeU64(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new ConcordError("invalid_argument", `u64 value must be a safe non-negative integer, got ${value}`);
  }
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, Math.floor(value / u32Span));
  view.setUint32(4, value % u32Span);
  return out;
}

/**
 * Reads 8 big-endian bytes at `offset`. Throws ConcordError("corrupt_record")
 * when fewer than 8 bytes are there or the value exceeds 2^53 - 1: such bytes
 * were never written by `encodeU64`.
 */
export function decodeU64(bytes: Uint8Array, offset = 0): number {
  if (!Number.isInteger(offset) || offset < 0 || offset + 8 > bytes.length) {
    throw new ConcordError("corrupt_record", `u64 at offset ${offset} runs past the end of ${bytes.length} bytes`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, 8);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  // 2^53 - 1 has a high half of 2^21 - 1.
  if (hi > 0x1f_ffff) throw new ConcordError("corrupt_record", `u64 at offset ${offset} exceeds 2^53 - 1`);
  return hi * u32Span + lo;
}
