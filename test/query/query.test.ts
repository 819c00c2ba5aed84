import { describe, expect, it } from "vitest";
import { openReplica } from "../../src/replica/replica.ts";
import { createMemoryDisk } from "../../src/storage/memory-store.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { isConcordError } from "../../src/errors.ts";
import { testKey } from "../helpers/replicas.ts";

async function seeded() {
  const disk = createMemoryDisk();
  const r = await openReplica({ store: disk.open(), masterKey: testKey(), random: createSeededRandom(1) });
  return { disk, r };
}

describe("queries over indexes", () => {
  it("answers equality, range, in and prefix queries from the indexes", async () => {
    const { r } = await seeded();
    await r.defineIndex({ name: "status", path: "meta.status", type: "string" });
    await r.defineIndex({ name: "prio", path: "meta.prio", type: "number", kind: "order" });
    for (let i = 0; i < 20; i++) {
      await r.create(`d${i}`, i % 2 ? "yjs" : "automerge", { init: { meta: {} } });
      await r.patch(`d${i}`, [{ op: "set", path: ["meta", "status"], value: i % 3 === 0 ? "open" : "closed" }, { op: "set", path: ["meta", "prio"], value: i }]);
    }
    const ids = async (q: Parameters<typeof r.query>[0]) => (await r.query(q)).ids.sort();
    expect(await ids({ where: [{ path: "meta.status", op: "==", value: "open" }] })).toEqual(["d0", "d12", "d15", "d18", "d3", "d6", "d9"]);
    expect((await r.query({ where: [{ path: "meta.prio", op: ">=", value: 15 }], orderBy: "meta.prio" })).ids).toEqual(["d15", "d16", "d17", "d18", "d19"]);
    expect(await ids({ where: [{ path: "meta.prio", op: "<", value: 3 }] })).toEqual(["d0", "d1", "d2"]);
    expect(await ids({ where: [{ path: "meta.prio", op: "in", value: [4, 7] }, { path: "meta.status", op: "!=", value: "open" }] })).toEqual(["d4", "d7"]);
    // A changed value moves the entry: the old one is gone.
    await r.patch("d0", [{ op: "set", path: ["meta", "status"], value: "closed" }]);
    expect(await ids({ where: [{ path: "meta.status", op: "==", value: "open" }] })).toEqual(["d12", "d15", "d18", "d3", "d6", "d9"]);
    await r.delete("d3");
    expect(await ids({ where: [{ path: "meta.status", op: "==", value: "open" }] })).toEqual(["d12", "d15", "d18", "d6", "d9"]);
    // Paging with the cursor gives everything once.
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await r.query({ where: [{ path: "meta.prio", op: ">", value: -1 }], orderBy: "meta.prio", limit: 3, ...(cursor ? { cursor } : {}) });
      seen.push(...page.ids);
      cursor = page.cursor;
    } while (cursor);
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => `d${i}`).filter((id) => id !== "d3"));
    await r.close();
  });

  it("refuses a query on a path without an index, naming the index it needs", async () => {
    const { r } = await seeded();
    const error = await r.query({ where: [{ path: "meta.owner", op: "==", value: "ann" }] }).catch((e: unknown) => e);
    expect(isConcordError(error, "invalid_argument")).toBe(true);
    expect((error as { details: { index: unknown } }).details.index).toEqual({ path: "meta.owner", type: "string", kind: "equality" });
    await r.close();
  });

  it("backfills an index defined after the documents", async () => {
    const { r } = await seeded();
    for (let i = 0; i < 10; i++) await r.create(`d${i}`, "yjs", { init: { meta: { n: i % 2 } } });
    await r.defineIndex({ name: "n", path: "meta.n", type: "number" });
    await r.indexesSettled();
    expect(r.indexStatus().ready).toEqual(["n"]);
    expect((await r.query({ where: [{ path: "meta.n", op: "==", value: 1 }] })).ids.sort()).toEqual(["d1", "d3", "d5", "d7", "d9"]);
    expect(await r.dropIndex("n")).toBe(true);
    await r.indexesSettled();
    expect(r.listIndexes()).toEqual([]);
    await r.close();
  });
});

describe("bounded scans", () => {
  it("answer an unindexed query only when asked, a bounded number of documents per page", async () => {
    const { r } = await seeded();
    await r.createMany(Array.from({ length: 1500 }, (_, i) => ({ id: `s${i}`, kind: "yjs" as const, init: { meta: { owner: i % 500 === 7 ? "ann" : "bob" } } })));
    const where = [{ path: "meta.owner", op: "==" as const, value: "ann" }];
    await expect(r.query({ where })).rejects.toThrow(/equality index on "meta.owner"/);
    const pages: string[][] = [];
    let cursor: string | undefined;
    do {
      const page = await r.query({ where, scan: true, limit: 10, ...(cursor ? { cursor } : {}) });
      pages.push(page.ids);
      cursor = page.cursor;
    } while (cursor && pages.length < 10);
    // At most 1000 documents read per call: 1500 documents take two calls at least.
    expect(pages.length).toBeGreaterThanOrEqual(2);
    expect(pages.flat().sort()).toEqual(["s1007", "s507", "s7"]);
    await r.close();
  }, 60_000);
});
