/**
 * A strict reader for lib0's binary encoding (the one Yjs uses): variable-length
 * integers, length-prefixed bytes and UTF-8 strings. Strict means every read is
 * bounds-checked against the view it was given and anything lib0 would read
 * differently (over-long varints, invalid UTF-8) is rejected, so a buffer this
 * reader accepts decodes to the same values in Yjs.
 */
import { invalidUpdate } from "./engine-errors.ts";

// fatal + ignoreBOM match lib0's decoder exactly: invalid UTF-8 throws, a BOM is kept.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Throws the "malformed" invalid_update error. */
export function malformed(message: string): never {
  throw invalidUpdate("malformed", message);
}

/** Reads `bytes` front to back; every method throws the "malformed" error instead of reading past the end. */
export class ByteReader {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  u8(): number {
    if (this.pos >= this.bytes.length) malformed("unexpected end of data");
    return this.bytes[this.pos++]!;
  }

  /**
   * An unsigned varint. At most 8 bytes: 56 bits cover every safe integer, and
   * lib0 turns longer runs of continuation bytes into NaN.
   */
  varUint(): number {
    let num = 0;
    let mult = 1;
    for (let i = 0; i < 8; i++) {
      const byte = this.u8();
      num += (byte & 0x7f) * mult;
      if (byte < 0x80) {
        if (num > Number.MAX_SAFE_INTEGER) malformed("integer out of range");
        return num;
      }
      mult *= 128;
    }
    return malformed("integer encoding too long");
  }

  /** A count of items that each take at least one more byte: bounded by what is left. */
  count(): number {
    const n = this.varUint();
    if (n > this.remaining) malformed(`count ${n} exceeds the ${this.remaining} bytes left`);
    return n;
  }

  /** lib0's signed varint (sign in bit 6 of the first byte). */
  varInt(): number {
    const first = this.u8();
    let num = first & 0x3f;
    const sign = (first & 0x40) !== 0 ? -1 : 1;
    if (first < 0x80) return sign * num;
    let mult = 64;
    for (let i = 0; i < 7; i++) {
      const byte = this.u8();
      num += (byte & 0x7f) * mult;
      if (byte < 0x80) {
        if (num > Number.MAX_SAFE_INTEGER) malformed("integer out of range");
        return sign * num;
      }
      mult *= 128;
    }
    return malformed("integer encoding too long");
  }

  /** `n` raw bytes, as a view (no copy). */
  take(n: number): Uint8Array {
    if (n > this.remaining) malformed(`needs ${n} bytes, ${this.remaining} left`);
    const view = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return view;
  }

  /** A varint length followed by that many bytes. */
  varBytes(): Uint8Array {
    return this.take(this.varUint());
  }

  /**
   * Skips a string, checking its UTF-8 as strictly as lib0's fatal decoder,
   * and returns its length in UTF-16 code units (what Yjs counts). Cheaper
   * than decoding: no string is built.
   */
  stringLength(): number {
    return utf16Length(this.varBytes());
  }

  /** A varint length followed by that many bytes of UTF-8. */
  string(): string {
    const raw = this.varBytes();
    try {
      return utf8.decode(raw);
    } catch {
      return malformed("string is not valid UTF-8");
    }
  }
}

/**
 * UTF-16 length of well-formed UTF-8 (no overlong forms, surrogates or code
 * points past U+10FFFF, as the WHATWG fatal decoder requires); malformed otherwise.
 */
export function utf16Length(bytes: Uint8Array): number {
  let units = 0;
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      i += 1;
      units += 1;
      continue;
    }
    let need: number;
    let low = 0x80;
    let high = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) need = 1;
    else if (lead >= 0xe0 && lead <= 0xef) {
      need = 2;
      if (lead === 0xe0) low = 0xa0; // overlong
      if (lead === 0xed) high = 0x9f; // surrogates
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      need = 3;
      if (lead === 0xf0) low = 0x90; // overlong
      if (lead === 0xf4) high = 0x8f; // past U+10FFFF
    } else return malformed("string is not valid UTF-8");
    if (i + need >= n) return malformed("string is not valid UTF-8");
    const second = bytes[i + 1]!;
    if (second < low || second > high) return malformed("string is not valid UTF-8");
    for (let k = 2; k <= need; k++) {
      const next = bytes[i + k]!;
      if (next < 0x80 || next > 0xbf) return malformed("string is not valid UTF-8");
    }
    i += need + 1;
    units += need === 3 ? 2 : 1;
  }
  return units;
}
