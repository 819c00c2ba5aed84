import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createSortedKeyIndex } from "../../src/storage/sorted-key-index.ts";

const seed = 0x5eed_0003;
const keyArb = fc.string({ unit: fc.constantFrom("\x00", "a", "b", "\x7f", "\xff"), minLength: 0, maxLength: 3 });
const opArb = fc.oneof(
  fc.record({ op: fc.constant("add" as const), key: keyArb }),
  fc.record({ op: fc.constant("delete" as const), key: keyArb }),
  fc.record({
    op: fc.constant("range" as const),
    key: keyArb,
    exclusive: fc.boolean(),
    end: fc.option(keyArb, { nil: undefined }),
    limit: fc.integer({ min: 0, max: 12 }),
  }),
);

describe("sorted key index", () => {
  it("behaves like a sorted array under random adds, deletes and range reads", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 5 }), fc.array(opArb, { maxLength: 120 }), (blockMaxKeys, ops) => {
        const index = createSortedKeyIndex({ blockMaxKeys });
        const model = new Set<string>();
        const sorted = (): string[] => [...model].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        for (const step of ops) {
          if (step.op === "add") {
            expect(index.add(step.key)).toBe(!model.has(step.key));
            model.add(step.key);
          } else if (step.op === "delete") {
            expect(index.delete(step.key)).toBe(model.has(step.key));
            model.delete(step.key);
          } else {
            const want = sorted()
              .filter((k) => (step.exclusive ? k > step.key : k >= step.key) && (step.end === undefined || k < step.end))
              .slice(0, step.limit);
            expect(index.range(step.key, step.exclusive, step.end, step.limit)).toEqual(want);
          }
          expect(index.size).toBe(model.size);
        }
        expect(index.range("", false, undefined, Number.POSITIVE_INFINITY)).toEqual(sorted());
      }),
      { seed, numRuns: 300 },
    );
  });

  it("keeps 1e5 random keys in order", () => {
    const index = createSortedKeyIndex();
    const keys: string[] = [];
    let x = 12345;
    for (let i = 0; i < 100_000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const key = x.toString(16).padStart(8, "0") + i.toString(36);
      keys.push(key);
      index.add(key);
    }
    keys.sort();
    expect(index.size).toBe(100_000);
    expect(index.range("", false, undefined, Number.POSITIVE_INFINITY)).toEqual(keys);
    for (let i = 0; i < keys.length; i += 2) index.delete(keys[i]!);
    expect(index.range(keys[1]!, true, undefined, 3)).toEqual([keys[3], keys[5], keys[7]]);
    expect(index.size).toBe(50_000);
  });
});
