import { describe, expect, it } from "vitest";
import type * as Y from "yjs";
import { contents, createCluster } from "../helpers/cluster.ts";

describe("one id created with different kinds in different regions", () => {
  for (const repair of ["eager push", "anti-entropy"] as const) {
    it(`converges every region to the same kind and value (${repair})`, async () => {
      const cluster = await createCluster({ names: ["a", "b", "c"], gossip: repair === "anti-entropy" ? { queueMaxBytes: 1 } : {} });
      for (const name of ["a", "b", "c"]) cluster.network.isolate(name);
      const a = cluster.get("a").replica;
      const b = cluster.get("b").replica;
      await a.create("x", "yjs");
      await a.change("x", (doc: Y.Doc) => doc.getText("t").insert(0, "from a"));
      await b.create("x", "automerge");
      await b.change("x", (doc: { note?: string }) => {
        doc.note = "from b";
      });
      await cluster.settle(200);
      cluster.network.heal();
      await cluster.settle(5000);

      const all = await contents(cluster);
      expect(new Set(all.values()).size).toBe(1);
      // The rule (src/replica/remote-apply.ts): the kind whose name sorts first wins.
      for (const name of ["a", "b", "c"]) {
        const view = await cluster.get(name).replica.read("x");
        expect(view).toMatchObject({ kind: "automerge", value: { note: "from b" } });
      }
      // And it stays settled: later writes to the winner replicate as usual.
      await a.change("x", (doc: { note?: string }) => {
        doc.note = "then a";
      });
      await cluster.settle(1000);
      expect((await cluster.get("c").replica.read("x")).value).toEqual({ note: "then a" });
      await cluster.stop();
    });
  }
});
