import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalize, canonicalStringify } from "../../src/doc/canonical-json.ts";
import { ConcordError } from "../../src/errors.ts";

/** The same object with its keys inserted in another order, all the way down. */
function reordered(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((v) => reordered(v, seed));
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value);
  const rotated = entries.slice(seed % (entries.length || 1)).concat(entries.slice(0, seed % (entries.length || 1))).reverse();
  const out: Record<string, unknown> = {};
  for (const [k, v] of rotated) Object.defineProperty(out, k, { value: reordered(v, seed + 1), enumerable: true, writable: true, configurable: true });
  return out;
}

describe("canonical JSON", () => {
  it("prints equal values identically whatever order their keys were inserted in", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat(), (value, seed) => {
        expect(canonicalStringify(reordered(value, seed))).toBe(canonicalStringify(value));
      }),
      { numRuns: 1000 },
    );
  });

  it("prints valid JSON that parses back to an equal value", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(JSON.parse(canonicalStringify(value))).toEqual(canonicalize(value));
        expect(canonicalize(JSON.parse(canonicalStringify(value)))).toEqual(canonicalize(value));
      }),
      { numRuns: 1000 },
    );
  });

  it("sorts keys by code unit, integer-like keys included", () => {
    expect(canonicalStringify({ b: 1, a: { d: 1, c: 2 }, "10": 0, "9": 0, é: 0, Z: 0 })).toBe('{"10":0,"9":0,"Z":0,"a":{"c":2,"d":1},"b":1,"é":0}');
  });

  it("converts bytes, dates, bigints, undefined and non-finite numbers to fixed JSON forms", () => {
    expect(
      canonicalStringify({
        bytes: new Uint8Array([0, 1, 2, 253, 254, 255, 7]),
        date: new Date(Date.UTC(2020, 1, 3, 4, 5, 6)),
        small: 12n,
        huge: 2n ** 70n,
        gone: undefined,
        list: [undefined, Number.NaN, Infinity, -0],
      }),
    ).toBe('{"bytes":{"$bytes":"AAEC/f7/Bw=="},"date":"2020-02-03T04:05:06.000Z","huge":"1180591620717411303424","list":[null,null,null,0],"small":12}');
  });

  it("keeps a key named __proto__ as a plain key", () => {
    const value = JSON.parse('{"__proto__":{"x":1},"a":2}');
    expect(canonicalStringify(value)).toBe('{"__proto__":{"x":1},"a":2}');
    expect(Object.getPrototypeOf(canonicalize(value))).toBe(Object.prototype);
  });

  it("rejects cyclic values and functions with invalid_argument instead of overflowing the stack", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic["self"] = cyclic;
    expect(() => canonicalStringify(cyclic)).toThrow(ConcordError);
    expect(() => canonicalStringify({ f: () => 1 })).toThrow(ConcordError);
  });
});
