import { describe, expect, it } from "vitest";
import type * as Y from "yjs";
import type { DocChange } from "../../src/replica/types.ts";
import { contents, createCluster } from "../helpers/cluster.ts";

describe("one id created with different kinds in different regions", () => {
  for (const repair of ["eager push", "anti-entropy"] as const) {
    it(`converges every region to the same kind and value, the losing copy kept aside (${repair})`, async () => {
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
      // The rule (src/replica/remote-apply.ts): the kind whose name sorts first wins; the loser's content is kept.
      for (const name of ["a", "b", "c"]) {
        const replica = cluster.get(name).replica;
        expect(await replica.read("x")).toMatchObject({ kind: "automerge", value: { note: "from b" } });
        expect(await replica.read("x~yjs-conflict")).toMatchObject({ kind: "yjs", value: { t: "from a" } });
      }
      expect(a.stats().kindConflicts).toBe(1);
      expect(b.stats().kindConflicts).toBe(0);
      // And it stays settled: later writes to the winner replicate as usual.
      await a.change("x", (doc: { note?: string }) => {
        doc.note = "then a";
      });
      await cluster.settle(1000);
      expect((await cluster.get("c").replica.read("x")).value).toEqual({ note: "then a" });
      await cluster.stop();
    });
  }

  it("a region that never saw the yjs doc creates it as automerge; after heal every acknowledged yjs write is in the conflict doc in every region, and all regions converge", async () => {
    const cluster = await createCluster({ names: ["a", "b", "c"] });
    cluster.network.isolate("c");
    const a = cluster.get("a").replica;
    const b = cluster.get("b").replica;
    const c = cluster.get("c").replica;
    await a.create("x", "yjs");
    const acked: string[] = [];
    for (let i = 0; i < 5; i++) {
      await a.change("x", (doc: Y.Doc) => doc.getText("t").insert(doc.getText("t").length, `a${i} `), { durability: "majority" });
      acked.push(`a${i} `);
    }
    await cluster.settle(500);
    // b writes too, cut off from everyone: its delta reaches the others late, as yjs, after they know x as automerge.
    cluster.network.isolate("b");
    await b.change("x", (doc: Y.Doc) => doc.getText("t").insert(doc.getText("t").length, "late-b "));
    acked.push("late-b ");
    await c.create("x", "automerge"); // c has not heard of x
    await c.change("x", (doc: { n?: number }) => {
      doc.n = 1;
    });
    const seen: Record<string, DocChange[]> = { a: [], b: [], c: [] };
    for (const name of ["a", "b", "c"]) cluster.get(name).replica.subscribe("x~yjs-conflict", (change) => seen[name]!.push(change));

    cluster.network.heal();
    await cluster.settle(8000);

    const all = await contents(cluster);
    expect(new Set(all.values()).size).toBe(1);
    for (const name of ["a", "b", "c"]) {
      const replica = cluster.get(name).replica;
      expect(await replica.read("x")).toMatchObject({ kind: "automerge", value: { n: 1 } });
      const kept = await replica.read("x~yjs-conflict");
      expect(kept.kind).toBe("yjs");
      const text = (kept.value as { t: string }).t;
      for (const write of acked) expect(text).toContain(write);
      expect(seen[name]!.length).toBeGreaterThan(0); // subscribers hear of the conflict document
    }
    expect(a.stats().kindConflicts).toBe(1);
    expect(b.stats().kindConflicts).toBe(1);
    expect(c.stats().kindConflicts).toBe(0);
    await cluster.stop();
  });
  it("deletes what a conflict kept when the id is deleted: deleted content never survives under the conflict id", async () => {
    const cluster = await createCluster({ names: ["a", "b", "c"] });
    for (const name of ["a", "b", "c"]) cluster.network.isolate(name);
    const a = cluster.get("a").replica;
    const b = cluster.get("b").replica;
    await a.create("x", "yjs");
    await a.change("x", (doc: Y.Doc) => doc.getText("t").insert(0, "secret"));
    await b.create("x", "automerge");
    await b.change("x", (doc: { n?: number }) => {
      doc.n = 1;
    });
    // a's yjs copy reached b before the cut; b keeps it aside. Then a's user deletes x.
    expect(await b.applyRemote("x", "yjs", await a.encodeState("x"))).toBe(true);
    expect((await b.read("x~yjs-conflict")).value).toEqual({ t: "secret" });
    expect(await a.delete("x")).toBe(true);
    cluster.network.heal();
    await cluster.settle(8000);
    for (const name of ["a", "b", "c"]) {
      const replica = cluster.get(name).replica;
      expect((await replica.status("x")).state, name).toBe("deleted");
      expect((await replica.status("x~yjs-conflict")).state, name).not.toBe("present");
    }
    expect(new Set((await contents(cluster)).values()).size).toBe(1);
    await cluster.stop();
  });

  it("moves nothing for a delta of the winning kind that is rejected", async () => {
    const cluster = await createCluster({ names: ["a", "b"] });
    const a = cluster.get("a").replica;
    await a.create("x", "yjs");
    await a.change("x", (doc: Y.Doc) => doc.getText("t").insert(0, "hello"));
    await expect(a.applyRemote("x", "automerge", Uint8Array.of(0x85, 0x6f, 0x4a, 0x83, 1, 2))).rejects.toMatchObject({ code: "invalid_update" });
    expect(await a.read("x")).toMatchObject({ kind: "yjs", value: { t: "hello" } });
    expect((await a.status("x~yjs-conflict")).state).toBe("absent");
    expect(a.stats().kindConflicts).toBe(0);
    await cluster.settle(3000);
    expect(await cluster.get("b").replica.read("x")).toMatchObject({ kind: "yjs", value: { t: "hello" } });
    await cluster.stop();
  });
});
