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
});
