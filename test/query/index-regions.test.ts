import { describe, expect, it } from "vitest";
import type { Replica } from "../../src/replica/replica.ts";
import { createCluster } from "../helpers/cluster.ts";

const openQuery = { where: [{ path: "meta.status", op: "==" as const, value: "open" }] };
const rangeQuery = { where: [{ path: "meta.prio", op: ">=" as const, value: 3 }], orderBy: "meta.prio" };

async function everything(r: Replica, q: Parameters<Replica["query"]>[0]) {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await r.query({ ...q, limit: 4, ...(cursor ? { cursor } : {}) });
    ids.push(...page.ids);
    cursor = page.cursor;
  } while (cursor);
  return ids;
}

describe("indexes across regions", () => {
  it("replicate their definitions and answer the same query the same way once converged", async () => {
    const cluster = await createCluster({ names: ["us", "eu"] });
    try {
      const us = cluster.get("us").replica;
      const eu = cluster.get("eu").replica;
      // Documents written before the index exists, in both regions: each region backfills them.
      for (let i = 0; i < 12; i++) {
        const r = i % 2 ? us : eu;
        await r.create(`t${i}`, i % 3 ? "yjs" : "automerge", { init: { meta: {} } });
        await r.patch(`t${i}`, [{ op: "set", path: ["meta", "status"], value: i % 4 ? "open" : "done" }, { op: "set", path: ["meta", "prio"], value: i % 6 }]);
      }
      await us.defineIndex({ name: "status", path: "meta.status", type: "string" });
      await eu.defineIndex({ name: "prio", path: "meta.prio", type: "number", kind: "order" });
      await cluster.settle(3000);
      await us.indexesSettled();
      await eu.indexesSettled();
      expect(us.listIndexes().map((i) => `${i.name}:${i.state}`)).toEqual(["prio:ready", "status:ready"]);
      expect(eu.listIndexes()).toEqual(us.listIndexes());
      // Writes after the definitions, in both regions, replicate with their entries maintained on arrival.
      await eu.patch("t1", [{ op: "set", path: ["meta", "status"], value: "done" }]);
      await us.patch("t2", [{ op: "set", path: ["meta", "prio"], value: 9 }]);
      await us.delete("t3");
      await cluster.settle(3000);
      // Without orderBy the order is each region's storage order (keyed hashes differ per region): compare sets.
      const open = (await everything(us, openQuery)).sort();
      expect((await everything(eu, openQuery)).sort()).toEqual(open);
      expect(open).toEqual(["t10", "t11", "t2", "t5", "t6", "t7", "t9"]);
      // With orderBy both walk values in one order (ties in each region's storage order).
      const prios = async (r: Replica) => Promise.all((await everything(r, rangeQuery)).map(async (id) => (await r.read(id)).value));
      const usPrios = (await prios(us)).map((v) => (v as { meta: { prio: number } }).meta.prio);
      expect(usPrios).toEqual([3, 4, 4, 5, 5, 9]);
      expect((await prios(eu)).map((v) => (v as { meta: { prio: number } }).meta.prio)).toEqual(usPrios);
      expect((await everything(eu, rangeQuery)).sort()).toEqual((await everything(us, rangeQuery)).sort());
    } finally {
      await cluster.stop();
    }
  }, 60_000);
});
