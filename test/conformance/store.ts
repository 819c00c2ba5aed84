/**
 * The Store contract in executable form (see src/storage/store.ts). Every
 * adapter runs it with one line:
 *
 *   runStoreConformance("lmdb", async () => ({ store, reopen, cleanup }));
 *
 * The randomized model test prints its seed in its name; set CONCORD_SEED to
 * replay another one.
 */
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isConcordError, type ErrorCode } from "../../src/errors.ts";
import { bytesEqual, compareBytes, encodeU64, toHex } from "../../src/storage/bytes.ts";
import { maxKeyBytes, type Store, type StoreWrite } from "../../src/storage/store.ts";

export interface StoreFixture {
  /** A fresh, empty store. */
  store: Store;
  /**
   * Closes the current store (if still open) and opens a new one over the
   * same durable contents. Omit for stores that cannot outlive a handle.
   */
  reopen?: () => Promise<Store>;
  /** Closes whatever is still open and removes everything the fixture created. */
  cleanup: () => Promise<void>;
}

type Entry = [Uint8Array, Uint8Array];

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);

async function collect(iterable: AsyncIterable<Entry>): Promise<Entry[]> {
  const out: Entry[] = [];
  for await (const entry of iterable) out.push(entry);
  return out;
}

const hexEntries = (entries: readonly Entry[]): string[][] => entries.map(([k, v]) => [toHex(k), toHex(v)]);
const hexKeys = (entries: readonly Entry[]): string[] => entries.map(([k]) => toHex(k));

async function expectConcordError(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isConcordError(error, code), `expected ConcordError("${code}"), got ${String(error)}`).toBe(true);
}

const defaultSeed = 0x5eed_0001;
const seedFromEnv = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.["CONCORD_SEED"];
const seed = seedFromEnv === undefined ? defaultSeed : Number(seedFromEnv);

export function runStoreConformance(name: string, open: () => Promise<StoreFixture>): void {
  describe(`Store conformance: ${name}`, () => {
    let fixture: StoreFixture;
    let store: Store;

    beforeEach(async () => {
      fixture = await open();
      store = fixture.store;
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    describe("get and write", () => {
      it("returns undefined for a key never written", async () => {
        expect(await store.get(bytes(1, 2, 3))).toBeUndefined();
      });

      it("returns the value written", async () => {
        await store.write([{ key: bytes(1), value: bytes(10, 20) }]);
        expect(await store.get(bytes(1))).toEqual(bytes(10, 20));
      });

      it("replaces a value on overwrite", async () => {
        await store.write([{ key: bytes(1), value: bytes(10) }]);
        await store.write([{ key: bytes(1), value: bytes(11, 12) }]);
        expect(await store.get(bytes(1))).toEqual(bytes(11, 12));
      });

      it("deletes a key written with an undefined value, and deleting a missing key is a no-op", async () => {
        await store.write([{ key: bytes(1), value: bytes(10) }, { key: bytes(2), value: bytes(20) }]);
        await store.write([{ key: bytes(1) }, { key: bytes(9), value: undefined }]);
        expect(await store.get(bytes(1))).toBeUndefined();
        expect(await store.get(bytes(9))).toBeUndefined();
        expect(hexEntries(await collect(store.scan(bytes())))).toEqual([["02", "14"]]);
      });

      it("stores an empty value, distinct from a missing key", async () => {
        await store.write([{ key: bytes(5), value: new Uint8Array(0) }]);
        const value = await store.get(bytes(5));
        expect(value).toBeInstanceOf(Uint8Array);
        expect(value?.length).toBe(0);
        expect(hexEntries(await collect(store.scan(bytes(5))))).toEqual([["05", ""]]);
      });

      it("round-trips a 4 MiB value through get and scan", async () => {
        const big = new Uint8Array(4 << 20);
        for (let i = 0; i < big.length; i += 4093) big[i] = (i * 31) & 0xff;
        big[big.length - 1] = 0xab;
        await store.write([{ key: bytes(7), value: big }]);
        // bytesEqual, not toEqual: vitest compares typed arrays element by element, slowly.
        const got = await store.get(bytes(7));
        expect(got?.length).toBe(big.length);
        expect(bytesEqual(got!, big)).toBe(true);
        const scanned = await collect(store.scan(bytes(7)));
        expect(scanned.length).toBe(1);
        expect(bytesEqual(scanned[0]![1], big)).toBe(true);
      });

      it("accepts a key of exactly maxKeyBytes and rejects empty or longer keys", async () => {
        const longest = new Uint8Array(maxKeyBytes).fill(0x42);
        await store.write([{ key: longest, value: bytes(1) }]);
        expect(await store.get(longest)).toEqual(bytes(1));
        await expectConcordError(store.write([{ key: new Uint8Array(0), value: bytes(1) }]), "invalid_argument");
        await expectConcordError(store.write([{ key: new Uint8Array(maxKeyBytes + 1), value: bytes(1) }]), "invalid_argument");
        await expectConcordError(store.get(new Uint8Array(0)), "invalid_argument");
      });

      it("writes nothing from a batch holding one invalid entry", async () => {
        const batch: StoreWrite[] = [
          { key: bytes(1), value: bytes(1) },
          { key: new Uint8Array(0), value: bytes(2) },
        ];
        await expectConcordError(store.write(batch), "invalid_argument");
        expect(await store.get(bytes(1))).toBeUndefined();
        expect(await collect(store.scan(bytes()))).toEqual([]);
      });
    });

    describe("batches", () => {
      it("lets a later entry for the same key win within a batch", async () => {
        await store.write([
          { key: bytes(1), value: bytes(1) },
          { key: bytes(1), value: bytes(2) },
          { key: bytes(2), value: bytes(1) },
          { key: bytes(2) },
          { key: bytes(3) },
          { key: bytes(3), value: bytes(3) },
        ]);
        expect(hexEntries(await collect(store.scan(bytes())))).toEqual([
          ["01", "02"],
          ["03", "03"],
        ]);
      });

      it("applies batches issued without waiting in call order", async () => {
        const writes = [];
        for (let i = 0; i < 20; i++) writes.push(store.write([{ key: bytes(1), value: bytes(i) }, { key: bytes(2, i), value: bytes(i) }]));
        writes.push(store.write([{ key: bytes(2, 3) }]));
        await Promise.all(writes);
        expect(await store.get(bytes(1))).toEqual(bytes(19));
        expect(await store.get(bytes(2, 3))).toBeUndefined();
        expect((await collect(store.scan(bytes(2)))).length).toBe(19);
      });

      it("lands every one of many concurrent writes", async () => {
        const writes = [];
        for (let i = 0; i < 300; i++) writes.push(store.write([{ key: encodeU64(i), value: encodeU64(i * 7) }]));
        await Promise.all(writes);
        const all = await collect(store.scan(bytes()));
        expect(all.length).toBe(300);
        all.forEach(([key, value], i) => {
          expect(key).toEqual(encodeU64(i));
          expect(value).toEqual(encodeU64(i * 7));
        });
      });

      it("accepts an empty batch", async () => {
        await store.write([]);
        expect(await collect(store.scan(bytes()))).toEqual([]);
      });
    });

    describe("conditional writes", () => {
      const conflictKeysOf = async (promise: Promise<unknown>): Promise<string[]> => {
        const error = await promise.then(() => undefined, (e: unknown) => e);
        expect(isConcordError(error, "conflict"), `expected ConcordError("conflict"), got ${String(error)}`).toBe(true);
        return ((error as { details: { keys: Uint8Array[] } }).details.keys).map(toHex).sort();
      };

      it("writes the batch when every expectation holds, present and absent keys alike", async () => {
        await store.write([{ key: bytes(1), value: bytes(10) }, { key: bytes(2), value: bytes() }]);
        await store.write([{ key: bytes(3), value: bytes(30) }, { key: bytes(1) }], {
          expect: [{ key: bytes(1), value: bytes(10) }, { key: bytes(2), value: bytes() }, { key: bytes(3), value: undefined }],
        });
        expect(hexEntries(await collect(store.scan(bytes())))).toEqual([["02", ""], ["03", "1e"]]);
      });

      it("writes nothing and names every failed expectation when one does not hold", async () => {
        await store.write([{ key: bytes(1), value: bytes(10) }, { key: bytes(2), value: bytes() }]);
        const keys = await conflictKeysOf(store.write([{ key: bytes(1), value: bytes(11) }, { key: bytes(9), value: bytes(9) }], {
          expect: [
            { key: bytes(1), value: bytes(10) }, // holds
            { key: bytes(2), value: undefined }, // present (empty), expected absent
            { key: bytes(3), value: bytes(3) }, // absent, expected present
            { key: bytes(4), value: undefined }, // holds
          ],
        }));
        expect(keys).toEqual(["02", "03"]);
        expect(hexEntries(await collect(store.scan(bytes())))).toEqual([["01", "0a"], ["02", ""]]);
      });

      it("tells an empty value from a missing key and from other bytes", async () => {
        await store.write([{ key: bytes(1), value: bytes() }]);
        expect(await conflictKeysOf(store.write([], { expect: [{ key: bytes(1), value: bytes(0) }] }))).toEqual(["01"]);
        expect(await conflictKeysOf(store.write([], { expect: [{ key: bytes(1), value: undefined }] }))).toEqual(["01"]);
        await store.write([], { expect: [{ key: bytes(1), value: bytes() }] });
      });

      it("checks against the batches issued before it, in call order", async () => {
        const first = store.write([{ key: bytes(1), value: bytes(1) }]);
        const second = store.write([{ key: bytes(1), value: bytes(2) }], { expect: [{ key: bytes(1), value: bytes(1) }] });
        const stale = store.write([{ key: bytes(1), value: bytes(3) }], { expect: [{ key: bytes(1), value: bytes(1) }] });
        const third = store.write([{ key: bytes(2), value: bytes(2) }], { expect: [{ key: bytes(1), value: bytes(2) }] });
        await first;
        await second;
        expect(await conflictKeysOf(stale)).toEqual(["01"]);
        await third;
        expect(hexEntries(await collect(store.scan(bytes())))).toEqual([["01", "02"], ["02", "02"]]);
      });

      it("lets exactly one of two writers that expect the same value win", async () => {
        await store.write([{ key: bytes(1), value: bytes(0) }]);
        const outcomes = await Promise.allSettled([5, 6].map((v) =>
          store.write([{ key: bytes(1), value: bytes(v) }, { key: bytes(2, v), value: bytes(v) }], { expect: [{ key: bytes(1), value: bytes(0) }] })));
        expect(outcomes.map((o) => o.status).sort()).toEqual(["fulfilled", "rejected"]);
        const winner = outcomes[0]!.status === "fulfilled" ? 5 : 6;
        expect(hexEntries(await collect(store.scan(bytes())))).toEqual([["01", toHex(bytes(winner))], [toHex(bytes(2, winner)), toHex(bytes(winner))]]);
      });

      it("refuses a bad expectation with invalid_argument and writes nothing", async () => {
        await expectConcordError(store.write([{ key: bytes(1), value: bytes(1) }], { expect: [{ key: new Uint8Array(0), value: undefined }] }), "invalid_argument");
        await expectConcordError(store.write([{ key: bytes(1), value: bytes(1) }], { expect: [{ key: bytes(2), value: "x" as never }] }), "invalid_argument");
        expect(await store.get(bytes(1))).toBeUndefined();
      });

      it("copies the expected values: the caller may reuse its arrays at once", async () => {
        await store.write([{ key: bytes(1), value: bytes(7) }]);
        const value = bytes(7);
        const key = bytes(1);
        const write = store.write([{ key: bytes(2), value: bytes(2) }], { expect: [{ key, value }] });
        value.fill(9);
        key.fill(9);
        await write;
        expect(await store.get(bytes(2))).toEqual(bytes(2));
      });

      it(`matches a Map model over random conditional batches (seed ${seed})`, async () => {
        const keyArb = fc.constantFrom(1, 2, 3).map((k) => bytes(k));
        const valueArb = fc.option(fc.constantFrom(0, 1, 2).map((v) => bytes(v)), { nil: undefined });
        const stepArb = fc.record({
          writes: fc.array(fc.record({ key: keyArb, value: valueArb }), { maxLength: 3 }),
          expect: fc.array(fc.record({ key: keyArb, value: valueArb }), { maxLength: 2 }),
        });
        await fc.assert(
          fc.asyncProperty(fc.array(stepArb, { maxLength: 8 }), async (steps) => {
            await store.write([1, 2, 3].map((k) => ({ key: bytes(k) })));
            const model = new Map<string, string>();
            const outcomes: Array<Promise<boolean>> = [];
            const predicted: boolean[] = [];
            for (const step of steps) {
              const holds = step.expect.every(({ key, value }) => model.get(toHex(key)) === (value && toHex(value)));
              predicted.push(holds);
              if (holds) {
                for (const w of step.writes) {
                  if (w.value === undefined) model.delete(toHex(w.key));
                  else model.set(toHex(w.key), toHex(w.value));
                }
              }
              outcomes.push(store.write(step.writes, { expect: step.expect }).then(() => true, (e: unknown) => {
                if (!isConcordError(e, "conflict")) throw e;
                return false;
              }));
            }
            expect(await Promise.all(outcomes)).toEqual(predicted);
            const want = [...model.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
            expect(hexEntries(await collect(store.scan(bytes())))).toEqual(want);
          }),
          { numRuns: 50, seed },
        );
      });
    });

    describe("scan", () => {
      it("orders keys as unsigned bytes, a proper prefix first", async () => {
        const keys = [[0xff], [0x00], [0x80], [0x7f], [0x00, 0x00], [0x7f, 0xff], [0x80, 0x00], [0xff, 0xff], [0x01]];
        await store.write(keys.map((k) => ({ key: new Uint8Array(k), value: bytes(k.length) })));
        expect(hexKeys(await collect(store.scan(bytes())))).toEqual(["00", "0000", "01", "7f", "7fff", "80", "8000", "ff", "ffff"]);
      });

      it("returns exactly the keys under a prefix, including prefixes ending in 0xff", async () => {
        const keys = [[0x01, 0xfe], [0x01, 0xff], [0x01, 0xff, 0x00], [0x01, 0xff, 0xff, 0x05], [0x02], [0x02, 0x00], [0xff], [0xff, 0x01], [0x00]];
        await store.write(keys.map((k) => ({ key: new Uint8Array(k), value: bytes(1) })));
        expect(hexKeys(await collect(store.scan(bytes(0x01, 0xff))))).toEqual(["01ff", "01ff00", "01ffff05"]);
        expect(hexKeys(await collect(store.scan(bytes(0x01))))).toEqual(["01fe", "01ff", "01ff00", "01ffff05"]);
        expect(hexKeys(await collect(store.scan(bytes(0xff))))).toEqual(["ff", "ff01"]);
        expect(hexKeys(await collect(store.scan(bytes(0x01, 0xff, 0xff))))).toEqual(["01ffff05"]);
        expect(hexKeys(await collect(store.scan(bytes(0x00))))).toEqual(["00"]);
        expect(await collect(store.scan(bytes(0x03)))).toEqual([]);
        expect(await collect(store.scan(bytes(0x02, 0x00, 0x00)))).toEqual([]);
        expect((await collect(store.scan(bytes()))).length).toBe(keys.length);
      });

      it("pages through many entries and many large values", async () => {
        const small: StoreWrite[] = [];
        for (let i = 0; i < 1000; i++) small.push({ key: bytes(0x10, i >> 8, i & 0xff), value: bytes(i & 0xff) });
        await store.write(small);
        const large: StoreWrite[] = [];
        for (let i = 0; i < 6; i++) large.push({ key: bytes(0x20, i), value: new Uint8Array(700 * 1024).fill(i) });
        await store.write(large);
        const smallScan = await collect(store.scan(bytes(0x10)));
        expect(hexKeys(smallScan)).toEqual(small.map((w) => toHex(w.key)));
        const largeScan = await collect(store.scan(bytes(0x20)));
        expect(largeScan.map(([k, v]) => [toHex(k), v.length, v[0]])).toEqual(large.map((w, i) => [toHex(w.key), 700 * 1024, i]));
      });

      it("yields each untouched key once, in order, while writes run during the scan", async () => {
        const key = (i: number, ...suffix: number[]): Uint8Array => bytes(0x30, i >> 8, i & 0xff, ...suffix);
        const initial: StoreWrite[] = [];
        for (let i = 0; i < 600; i++) initial.push({ key: key(i), value: bytes(1) });
        await store.write(initial);
        const touched = new Set<string>();
        const seen: Entry[] = [];
        for await (const entry of store.scan(bytes(0x30))) {
          seen.push(entry);
          if (seen.length === 100) {
            const writes: StoreWrite[] = [];
            for (let i = 400; i < 410; i++) writes.push({ key: key(i) });
            for (let i = 450; i < 470; i++) writes.push({ key: key(i, 0), value: bytes(2) });
            writes.push({ key: key(500), value: bytes(3) });
            for (const w of writes) touched.add(toHex(w.key));
            await store.write(writes);
          }
        }
        const seenKeys = hexKeys(seen);
        for (let i = 1; i < seen.length; i++) expect(compareBytes(seen[i - 1]![0], seen[i]![0])).toBe(-1);
        const untouched = initial.map((w) => toHex(w.key)).filter((k) => !touched.has(k));
        expect(untouched.filter((k) => !seenKeys.includes(k))).toEqual([]);
        for (const [k, v] of seen) if (!touched.has(toHex(k))) expect(v).toEqual(bytes(1));
        const at500 = seen.find(([k]) => toHex(k) === toHex(key(500)));
        expect([toHex(bytes(1)), toHex(bytes(3))]).toContain(toHex(at500![1]));
      });

      it("can be abandoned early, leaving the store usable and closable", async () => {
        const writes: StoreWrite[] = [];
        for (let i = 0; i < 300; i++) writes.push({ key: bytes(0x40, i >> 8, i & 0xff), value: bytes(i & 0xff) });
        await store.write(writes);
        for await (const _ of store.scan(bytes(0x40))) break;
        await expect(
          (async () => {
            for await (const _ of store.scan(bytes(0x40))) throw new Error("consumer failed");
          })(),
        ).rejects.toThrow("consumer failed");
        await store.write([{ key: bytes(0x41), value: bytes(1) }]);
        expect(await store.get(bytes(0x41))).toEqual(bytes(1));
        expect((await collect(store.scan(bytes(0x40)))).length).toBe(300);
      });
    });

    describe("snapshot", () => {
      it("holds the store as of one moment while writes, overwrites and deletes go on", async () => {
        const before: StoreWrite[] = [];
        for (let i = 0; i < 700; i++) before.push({ key: bytes(0x60, i >> 8, i & 0xff), value: bytes(i & 0xff) });
        await store.write(before);
        const expected = await collect(store.scan(bytes()));
        const snapshot = await store.snapshot();
        // Change the store in every way while the snapshot is read, page by page.
        await store.write([{ key: bytes(0x60, 0, 1), value: bytes(0xee) }, { key: bytes(0x60, 0, 2) }, { key: bytes(0x61), value: bytes(1) }]);
        const seen: Entry[] = [];
        for await (const entry of snapshot.entries()) {
          seen.push(entry);
          if (seen.length % 200 === 0) await store.write([{ key: bytes(0x60, 2, seen.length & 0xff) }, { key: bytes(0x5f, seen.length & 0xff), value: bytes(9) }]);
        }
        expect(hexEntries(seen)).toEqual(hexEntries(expected));
        expect(await snapshot.count()).toBe(expected.length);
        snapshot.release();
        snapshot.release();
        await expectConcordError(collect(snapshot.entries()), "closed");
        // The store itself saw every write.
        expect(await store.get(bytes(0x60, 0, 2))).toBeUndefined();
        expect(toHex((await store.get(bytes(0x61)))!)).toBe("01");
      });

      it("is empty for an empty store, and ends with ConcordError closed when the store closes", async () => {
        const empty = await store.snapshot();
        expect(await empty.count()).toBe(0);
        expect(await collect(empty.entries())).toEqual([]);
        empty.release();
        const writes: StoreWrite[] = [];
        for (let i = 0; i < 600; i++) writes.push({ key: bytes(0x50, i >> 8, i & 0xff), value: bytes(1) });
        await store.write(writes);
        const snapshot = await store.snapshot();
        const iterator = snapshot.entries()[Symbol.asyncIterator]();
        expect((await iterator.next()).done).toBe(false);
        await store.close();
        await expectConcordError(iterator.next(), "closed");
        await expectConcordError(store.snapshot(), "closed");
        snapshot.release();
      });
    });

    describe("copies", () => {
      it("keeps what was written when the caller mutates its arrays right after write()", async () => {
        const key = bytes(1, 2);
        const value = bytes(3, 4, 5);
        const written = store.write([{ key, value }]);
        key.fill(9);
        value.fill(9);
        await written;
        key.fill(8);
        value.fill(8);
        expect(await store.get(bytes(1, 2))).toEqual(bytes(3, 4, 5));
        expect(await store.get(bytes(9, 9))).toBeUndefined();
      });

      it("hands out arrays the caller may mutate without changing the store", async () => {
        await store.write([{ key: bytes(1), value: bytes(3, 4) }]);
        const got = (await store.get(bytes(1)))!;
        got.fill(0);
        for await (const [k, v] of store.scan(bytes())) {
          k.fill(0xee);
          v.fill(0xee);
        }
        expect(await store.get(bytes(1))).toEqual(bytes(3, 4));
        expect(hexEntries(await collect(store.scan(bytes())))).toEqual([["01", "0304"]]);
      });
    });

    describe("lifecycle", () => {
      it("keeps durable data across a reopen", async (ctx) => {
        if (!fixture.reopen) return ctx.skip();
        await store.write([{ key: bytes(1), value: bytes(1) }, { key: bytes(2), value: new Uint8Array(0) }]);
        await store.write([{ key: bytes(1) }, { key: bytes(3), value: bytes(3) }]);
        store = await fixture.reopen();
        expect(hexEntries(await collect(store.scan(bytes())))).toEqual([
          ["02", ""],
          ["03", "03"],
        ]);
      });

      it("lets writes issued before close() finish, and they are durable", async (ctx) => {
        const written = store.write([{ key: bytes(1), value: bytes(1) }]);
        const closed = store.close();
        await written;
        await closed;
        if (!fixture.reopen) return ctx.skip();
        store = await fixture.reopen();
        expect(await store.get(bytes(1))).toEqual(bytes(1));
      });

      it("rejects every call after close() with ConcordError closed, and close() is idempotent", async () => {
        await store.write([{ key: bytes(1), value: bytes(1) }]);
        await store.close();
        await store.close();
        await expectConcordError(store.get(bytes(1)), "closed");
        await expectConcordError(store.write([{ key: bytes(2), value: bytes(2) }]), "closed");
        await expectConcordError(collect(store.scan(bytes())), "closed");
      });

      it("ends a scan in progress with ConcordError closed when the store closes", async () => {
        const writes: StoreWrite[] = [];
        for (let i = 0; i < 600; i++) writes.push({ key: bytes(0x50, i >> 8, i & 0xff), value: bytes(1) });
        await store.write(writes);
        const iterator = store.scan(bytes(0x50))[Symbol.asyncIterator]();
        expect((await iterator.next()).done).toBe(false);
        await store.close();
        await expectConcordError(iterator.next(), "closed");
      });
    });

    describe("model", () => {
      // Few distinct bytes, short keys: collisions, prefixes and 0x00/0xff edges are common.
      const keyArb = fc
        .array(fc.constantFrom(0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff), { minLength: 1, maxLength: 3 })
        .map((k) => new Uint8Array(k));
      const valueArb = fc.option(fc.uint8Array({ maxLength: 6 }), { nil: undefined, freq: 4 });
      const stepArb = fc.record({
        writes: fc.array(fc.record({ key: keyArb, value: valueArb }), { maxLength: 6 }),
        awaitAfter: fc.boolean(),
        reopenAfter: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
      });
      const prefixes = [[], [0x00], [0x01], [0x7f], [0x80], [0xff], [0xff, 0xff], [0x00, 0xff], [0x80, 0x00], [0xfe, 0xff, 0xff]].map(
        (p) => new Uint8Array(p),
      );

      it(`matches a Map model over random batches, gets and scans (seed ${seed})`, async () => {
        await fc.assert(
          fc.asyncProperty(fc.array(stepArb, { maxLength: 10 }), async (steps) => {
            const existing = await collect(store.scan(bytes()));
            if (existing.length > 0) await store.write(existing.map(([key]) => ({ key })));
            const model = new Map<string, Uint8Array>();
            const pending: Array<Promise<void>> = [];
            for (const step of steps) {
              // Copies: the generated values must stay intact for shrinking, and we scribble on these.
              const batch = step.writes.map((w) => ({ key: w.key.slice(), value: w.value?.slice() }));
              pending.push(store.write(batch));
              for (const w of batch) {
                if (w.value === undefined) model.delete(toHex(w.key));
                else model.set(toHex(w.key), w.value.slice());
                w.key.fill(0xaa);
                w.value?.fill(0xaa);
              }
              if (step.awaitAfter) await Promise.all(pending.splice(0));
              if (step.reopenAfter && fixture.reopen) {
                store = await fixture.reopen();
                await Promise.all(pending.splice(0));
              }
            }
            await Promise.all(pending);
            const expected = [...model.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
            for (const prefix of prefixes) {
              const want = expected.filter(([k]) => k.startsWith(toHex(prefix))).map(([k, v]) => [k, toHex(v)]);
              expect(hexEntries(await collect(store.scan(prefix))), `scan ${toHex(prefix)}`).toEqual(want);
            }
            for (const step of steps) {
              for (const { key } of step.writes) {
                const want = model.get(toHex(key));
                const got = await store.get(key);
                expect(got && toHex(got), `get ${toHex(key)}`).toEqual(want && toHex(want));
              }
            }
          }),
          { numRuns: 100, seed },
        );
      });
    });
  });
}
