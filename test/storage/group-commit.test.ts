import { describe, expect, it } from "vitest";
import { createGroupCommit } from "../../src/storage/group-commit.ts";
import { createMemoryStore } from "../../src/storage/memory-store.ts";
import { ticks } from "../helpers/gated-store.ts";

const entry = (n: number) => [{ key: Uint8Array.of(n), value: Uint8Array.of(n) }];

describe("group commit", () => {
  it("fails only the batch whose beforeBatch hook threw, writes none of it, and keeps committing", async () => {
    const store = createMemoryStore();
    let throwNext = true;
    const commits = createGroupCommit(store, {
      beforeBatch() {
        if (throwNext) {
          throwNext = false;
          throw new Error("version() failed");
        }
        return [];
      },
    });
    // A wedged queue never settles: give up after a bounded number of turns instead of waiting forever.
    const settled = (p: Promise<void>) =>
      Promise.race([p.then(() => "durable", (e: Error) => e.message), ticks(100).then(() => "still pending")]);
    expect(await settled(commits.commit(entry(1)))).toBe("version() failed");
    expect(await store.get(Uint8Array.of(1))).toBeUndefined();
    expect(await settled(commits.commit(entry(2)))).toBe("durable");
    expect(await store.get(Uint8Array.of(2))).toEqual(Uint8Array.of(2));
    await commits.drain(); // and drain() no longer waits on a batch that never finished
  });

  it("hands the hook the writes of the batch it joins, and whether the batch drains the queue", async () => {
    const store = createMemoryStore();
    const seen: Array<[boolean, number[]]> = [];
    const commits = createGroupCommit(store, {
      maxBatchBytes: 2,
      beforeBatch(drainsQueue, batch) {
        seen.push([drainsQueue, batch.map((w) => w.key[0]!)]);
        return [];
      },
    });
    await Promise.all([commits.commit(entry(1)), commits.commit(entry(2))]);
    expect(seen).toEqual([[false, [1]], [true, [2]]]);
  });

  it("drops only the entries whose expectation failed, with the extra writes of their scope, and writes the rest", async () => {
    const store = createMemoryStore();
    await store.write([{ key: Uint8Array.of(1, 0), value: Uint8Array.of(9) }]); // "another process" wrote scope 1
    const dropped: string[][] = [];
    const commits = createGroupCommit(store, {
      scopeOf: (key) => String(key[0]),
      onDropped: (scopes) => dropped.push([...scopes]),
      // A summary per scope, as version records are: the one of a dropped scope must go too.
      beforeBatch: (_, batch) => [...new Set(batch.map((w) => w.key[0]!))].map((s) => ({ key: Uint8Array.of(s, 0xff), value: Uint8Array.of(s) })),
    });
    const outcomes = await Promise.allSettled([
      commits.commit([{ key: Uint8Array.of(1, 1), value: Uint8Array.of(1) }], [{ key: Uint8Array.of(1, 0), value: undefined }]),
      commits.commit([{ key: Uint8Array.of(2, 1), value: Uint8Array.of(2) }], [{ key: Uint8Array.of(2, 0), value: undefined }]),
      commits.commit([{ key: Uint8Array.of(3, 1), value: Uint8Array.of(3) }]),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(["rejected", "fulfilled", "fulfilled"]);
    expect((outcomes[0] as PromiseRejectedResult).reason.code).toBe("conflict");
    expect(dropped).toEqual([["1"]]);
    expect(await store.get(Uint8Array.of(1, 1))).toBeUndefined();
    expect(await store.get(Uint8Array.of(1, 0xff))).toBeUndefined();
    expect(await store.get(Uint8Array.of(2, 0xff))).toEqual(Uint8Array.of(2));
    expect(await store.get(Uint8Array.of(3, 1))).toEqual(Uint8Array.of(3));
    expect(commits.stats.conflicts).toBe(1);
  });

  it("fails only the batch a store write failed, and writes later batches once the store answers again", async () => {
    const inner = createMemoryStore();
    let down = false;
    const store = { ...inner, write: (b: Parameters<typeof inner.write>[0], o?: Parameters<typeof inner.write>[1]) => (down ? Promise.reject(new Error("connection lost")) : inner.write(b, o)) };
    const commits = createGroupCommit(store);
    down = true;
    const failed = await commits.commit(entry(1)).then(() => undefined, (e: { code?: string }) => e.code);
    expect(failed).toBe("unavailable");
    down = false;
    await commits.commit(entry(2));
    expect(await inner.get(Uint8Array.of(2))).toEqual(Uint8Array.of(2));
  });
});
