import { describe, expect, it } from "vitest";
import type * as Y from "yjs";
import { openReplica } from "../../src/replica/replica.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { layout, recordPrefix } from "../../src/storage/doc-store-layout.ts";
import { createMemoryStore } from "../../src/storage/memory-store.ts";
import type { Store } from "../../src/storage/store.ts";
import { gated, ticks } from "../helpers/gated-store.ts";
import { memoryReplica, testKey, unclosable, yjsClient } from "../helpers/replicas.ts";

async function count(store: Store, prefix: Uint8Array): Promise<number> {
  let n = 0;
  for await (const _ of store.scan(prefix)) n++;
  return n;
}

describe("Replica under racing operations on one document", () => {
  it("keeps both writes when a create races a load of the same id (no reused log sequence)", async () => {
    const mem = createMemoryStore();
    const store = gated(mem);
    const key = testKey();
    const r = await openReplica({ store, masterKey: key, random: createSeededRandom(1) });
    const a = yjsClient(1);
    const b = yjsClient(2);
    const fromB = b.insert("B-WRITE");
    const fromA = a.insert("A-WRITE");

    store.holdWrites();
    const created = r.create("d", "yjs"); // its commit is held
    await ticks();
    const first = r.update("d", fromB); // misses the cache: a load that waits for the create's batch
    await ticks();
    store.holdGets(); // the load then blocks on its first read
    store.freeWrites();
    await created;
    store.holdWrites();
    const second = r.update("d", fromA); // an append in flight on whatever instance is cached
    await ticks();
    store.freeGets(); // the load reads the store, which lacks that append
    await ticks();
    store.freeWrites();
    await Promise.all([first, second]);

    const live = JSON.stringify((await r.read("d")).value);
    expect(live).toContain("A-WRITE");
    expect(live).toContain("B-WRITE");
    await r.close();
    const reopened = await openReplica({ store: unclosable(mem), masterKey: key, random: createSeededRandom(2) });
    expect(JSON.stringify((await reopened.read("d")).value)).toBe(live);
    await reopened.close();
  });

  it("does not cache a document again after an update raced its deletion", async () => {
    const mem = createMemoryStore();
    const store = gated(mem);
    const r = await openReplica({ store, masterKey: testKey(), random: createSeededRandom(1), cacheMaxBytes: 1 });
    const client = yjsClient(1);
    await r.create("d", "yjs");
    await r.update("d", client.insert("before"));
    await r.create("other", "yjs"); // a 1-byte cache: evicts "d"

    store.holdGets();
    const deleted = r.delete("d");
    await ticks();
    const racing = r.update("d", client.insert(" after")).then(() => "acked", (e: { code?: string }) => e.code);
    await ticks();
    store.holdWrites();
    store.freeGets();
    await ticks(200);
    store.freeWrites();
    expect(await deleted).toBe(true);
    expect(await racing).toBe("deleted");

    await expect(r.read("d")).rejects.toMatchObject({ code: "deleted" });
    await expect(r.update("d", client.insert(" more"))).rejects.toMatchObject({ code: "deleted" });
    expect(await r.status("d")).toEqual({ state: "deleted" });
    // Nothing of "d" is left but its tombstone: no stray log or version record written after it.
    await r.close();
    expect(await count(mem, layout.logPrefix(new Uint8Array(0)))).toBe(0);
    expect(await count(mem, layout.versionPrefix())).toBe(1); // "other"
    expect(await count(mem, layout.tombstonePrefix())).toBe(1);
  });

  describe("two automerge arrivals for a document that is yjs here", () => {
    /** Two whole Automerge states of "x" from two regions, one setting fromB, one fromC. */
    const states = async () => {
      const out: Uint8Array[] = [];
      for (const [seed, key] of [[2, "fromB"], [3, "fromC"]] as const) {
        const other = await memoryReplica({ masterKey: testKey(seed), random: createSeededRandom(seed) });
        await other.create("x", "automerge");
        await other.change("x", (doc: Record<string, string>) => {
          doc[key] = key;
        });
        out.push(await other.encodeState("x"));
        await other.close();
      }
      return out as [Uint8Array, Uint8Array];
    };

    it("swap it once: the second finds the winning kind already there and applies to it", async () => {
      const [stateB, stateC] = await states();
      const mem = createMemoryStore();
      let swaps = 0;
      const store: Store = {
        ...unclosable(mem),
        write(batch) {
          if (batch.some((w) => w.key[0] === recordPrefix.dataKey && w.value)) swaps++;
          return mem.write(batch);
        },
      };
      const r = await openReplica({ store, masterKey: testKey(), random: createSeededRandom(1) });
      await r.create("x", "yjs");
      await r.change("x", (doc: Y.Doc) => doc.getText("t").insert(0, "yjs here"));
      swaps = 0;
      const both = await Promise.all([r.applyRemote("x", "automerge", stateB), r.applyRemote("x", "automerge", stateC)]);
      expect(both).toEqual([true, true]);
      expect(swaps).toBe(1);
      expect(r.stats().kindConflicts).toBe(1);
      expect((await r.read("x")).value).toEqual({ fromB: "fromB", fromC: "fromC" });
      expect((await r.read("x~yjs-conflict")).value).toEqual({ t: "yjs here" });
      await r.close();
    });

    it("lose no acknowledged write, whatever the interleaving with a local write", async () => {
      const [stateB, stateC] = await states();
      const micro = async (n: number) => {
        for (let i = 0; i < n; i++) await Promise.resolve();
      };
      const lost: string[] = [];
      const kept = new Set<string>();
      for (let m = 0; m < 40; m++) {
        const r = await memoryReplica();
        await r.create("x", "yjs");
        await r.change("x", (doc: Y.Doc) => doc.getText("t").insert(0, "yjs here"));
        const p1 = r.applyRemote("x", "automerge", stateB);
        const p2 = r.applyRemote("x", "automerge", stateC);
        await micro(m);
        const local = r.change("x", (doc: { local?: string }) => {
          doc.local = "L";
        }).then((ack) => ack.changed, () => false);
        const [b, c, l] = await Promise.all([p1, p2, local]);
        const value = (await r.read("x")).value as Record<string, string>;
        if ((b && value.fromB !== "fromB") || (c && value.fromC !== "fromC") || (l && value.local !== "L")) {
          lost.push(`m=${m}: ${JSON.stringify(value)}`);
        }
        kept.add(JSON.stringify(await r.read("x~yjs-conflict").then((view) => view.value, (e: { code?: string }) => e.code)));
        await r.close();
      }
      expect(lost).toEqual([]);
      expect([...kept]).toEqual([JSON.stringify({ t: "yjs here" })]);
    });
  });
});
