import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isConcordError } from "../../src/errors.ts";
import {
  bytesEqual,
  compareBytes,
  concatBytes,
  copyBytes,
  decodeU64,
  encodeU64,
  fromByteString,
  fromHex,
  prefixEnd,
  startsWith,
  toByteString,
  toHex,
} from "../../src/storage/bytes.ts";

const seed = 0x5eed_0002;
const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);
/** Short arrays over edge bytes, so prefixes and 0x00/0xff runs come up often. */
const edgyBytes = fc.array(fc.constantFrom(0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff), { maxLength: 4 }).map((a) => new Uint8Array(a));

/** Reference order: compare as arrays of numbers. */
function referenceCompare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

describe("bytes", () => {
  it("compares as unsigned bytes with a proper prefix first", () => {
    expect(compareBytes(bytes(0x7f), bytes(0x80))).toBe(-1);
    expect(compareBytes(bytes(0xff), bytes(0x00, 0x00))).toBe(1);
    expect(compareBytes(bytes(1), bytes(1, 0))).toBe(-1);
    expect(compareBytes(bytes(), bytes())).toBe(0);
    fc.assert(
      fc.property(edgyBytes, edgyBytes, (a, b) => {
        expect(compareBytes(a, b)).toBe(Math.sign(referenceCompare(a, b)));
        expect(bytesEqual(a, b)).toBe(referenceCompare(a, b) === 0);
      }),
      { seed },
    );
  });

  it("bounds a prefix scan with prefixEnd: a key is under the prefix exactly when it is in [prefix, end)", () => {
    expect(prefixEnd(bytes(1, 2))).toEqual(bytes(1, 3));
    expect(prefixEnd(bytes(1, 0xff, 0xff))).toEqual(bytes(2));
    expect(prefixEnd(bytes(0xff, 0xff))).toBeUndefined();
    expect(prefixEnd(bytes())).toBeUndefined();
    fc.assert(
      fc.property(edgyBytes, edgyBytes, (prefix, key) => {
        const end = prefixEnd(prefix);
        const inRange = compareBytes(key, prefix) >= 0 && (end === undefined || compareBytes(key, end) < 0);
        expect(inRange).toBe(startsWith(key, prefix));
      }),
      { seed },
    );
  });

  it("does not alias its input in prefixEnd, concatBytes or copyBytes", () => {
    const prefix = bytes(1, 2);
    const end = prefixEnd(prefix)!;
    end[0] = 9;
    expect(prefix).toEqual(bytes(1, 2));
    const joined = concatBytes(bytes(1), bytes(), bytes(2, 3));
    expect(joined).toEqual(bytes(1, 2, 3));
    const source = bytes(4, 5);
    const copy = copyBytes(source.subarray(1));
    source.fill(0);
    expect(copy).toEqual(bytes(5));
    expect(Object.getPrototypeOf(copyBytes(Buffer.from([1])))).toBe(Uint8Array.prototype);
  });

  it("round-trips hex and rejects malformed hex", () => {
    expect(toHex(bytes(0x00, 0x0f, 0xa0, 0xff))).toBe("000fa0ff");
    expect(fromHex("000FA0ff")).toEqual(bytes(0x00, 0x0f, 0xa0, 0xff));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        expect(fromHex(toHex(b))).toEqual(b);
      }),
      { seed },
    );
    for (const bad of ["0", "0g", "zz", "0 "]) {
      expect(() => fromHex(bad)).toThrowError(expect.objectContaining({ code: "invalid_argument" }));
    }
  });

  it("orders byte strings like the bytes they encode", () => {
    fc.assert(
      fc.property(edgyBytes, edgyBytes, (a, b) => {
        const x = toByteString(a);
        const y = toByteString(b);
        expect(x < y ? -1 : x > y ? 1 : 0).toBe(compareBytes(a, b));
        expect(fromByteString(x)).toEqual(a);
      }),
      { seed },
    );
    const long = new Uint8Array(10_000).map((_, i) => i & 0xff);
    expect(fromByteString(toByteString(long))).toEqual(long);
  });

  it("encodes u64 big-endian so byte order is numeric order, up to 2^53 - 1", () => {
    expect(encodeU64(0x0102_0304_0506)).toEqual(bytes(0, 0, 1, 2, 3, 4, 5, 6));
    expect(decodeU64(encodeU64(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
    expect(decodeU64(concatBytes(bytes(9), encodeU64(77)), 1)).toBe(77);
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.maxSafeNat(), (a, b) => {
        expect(decodeU64(encodeU64(a))).toBe(a);
        expect(compareBytes(encodeU64(a), encodeU64(b))).toBe(Math.sign(a - b));
      }),
      { seed },
    );
    for (const bad of [-1, 1.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN]) {
      expect(() => encodeU64(bad)).toThrowError(expect.objectContaining({ code: "invalid_argument" }));
    }
  });

  it("refuses to decode a truncated or out-of-range u64", () => {
    for (const [input, offset] of [
      [bytes(1, 2, 3), 0],
      [new Uint8Array(8), 1],
      [bytes(0, 0x20, 0, 0, 0, 0, 0, 0), 0],
    ] as const) {
      let error: unknown;
      try {
        decodeU64(input, offset);
      } catch (e) {
        error = e;
      }
      expect(isConcordError(error, "corrupt_record")).toBe(true);
    }
  });
});
