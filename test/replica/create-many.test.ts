import { describe, expect, it } from "vitest";
import { openReplica } from "../../src/replica/replica.ts";
import type { ReplicaEvent } from "../../src/replica/types.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { createMemoryStore } from "../../src/storage/memory-store.ts";
import { memoryReplica, testKey, unclosable, yjsClient } from "../helpers/replicas.ts";

describe("Replica.createMany", () => {
  it("creates every valid item in one store write and reports each refused one on its own", async () => {
    const r = await memoryReplica();
    await r.create("taken", "yjs");
    await r.create("gone", "yjs");
    await r.delete("gone");
    const batchesBefore = r.stats().storeBatches;
    const results = await r.createMany([
      { id: "a", kind: "yjs" },
      { id: "b", kind: "automerge", init: { items: [], meta: { title: "T" } } },
      { id: "taken", kind: "yjs" },
      { id: "gone", kind: "automerge" },
      { id: "c", kind: "nope" as "yjs" },
      { id: "", kind: "yjs" },
      { id: "a", kind: "yjs" },
      { id: "d", kind: "yjs", init: { items: [], meta: { title: "T" } } },
      { id: "e", kind: "automerge", init: [1] },
    ]);
    expect(results.map((x) => (x.ok ? "ok" : x.error.code))).toEqual([
      "ok", "ok", "exists", "deleted", "invalid_argument", "invalid_argument", "invalid_argument", "ok", "invalid_argument",
    ]);
    expect(results.map((x) => x.id)).toEqual(["a", "b", "taken", "gone", "c", "", "a", "d", "e"]);
    expect(r.stats().storeBatches - batchesBefore).toBe(1);
    expect(await r.read("a")).toMatchObject({ kind: "yjs", value: {}, version: results[0]!.ok && results[0]!.version });
    expect(await r.read("b")).toMatchObject({ kind: "automerge", value: { items: [], meta: { title: "T" } } });
    expect((await r.read("d")).value).toMatchObject({ meta: { title: "T" } });
    expect((await r.read("taken")).kind).toBe("yjs");
    await expect(r.read("c")).rejects.toMatchObject({ code: "not_found" });
    await expect(r.read("e")).rejects.toMatchObject({ code: "not_found" });
    await r.close();
  });

  it("reports the version each document holds, announces each, and keeps them across a reopen", async () => {
    const store = createMemoryStore();
    const options = { store: unclosable(store), masterKey: testKey(), random: createSeededRandom(3) };
    const r = await openReplica(options);
    const events: ReplicaEvent[] = [];
    r.observe((e) => events.push(e));
    const items = Array.from({ length: 200 }, (_, i) => ({ id: `doc-${i}`, kind: i % 2 ? "yjs" as const : "automerge" as const, ...(i % 3 ? {} : { init: { n: [] } }) }));
    const results = await r.createMany(items);
    expect(results.every((x) => x.ok)).toBe(true);
    expect(events.map((e) => e.type === "change" && e.id)).toEqual(items.map((i) => i.id));
    for (const [i, result] of results.entries()) {
      const event = events[i]!;
      expect(event.type === "change" && event.version).toBe(result.ok && result.version);
    }
    await r.close();
    const again = await openReplica(options);
    for (const [i, item] of items.entries()) {
      const view = await again.read(item.id);
      expect(view.version).toBe(results[i]!.ok && results[i]!.version);
      expect(view.kind).toBe(item.kind);
    }
    const ids: string[] = [];
    for await (const id of again.list()) ids.push(id);
    expect(ids).toHaveLength(200);
    // Each takes writes as any document does.
    const ack = await again.update("doc-1", yjsClient(5).insert("x"));
    expect(ack.changed).toBe(true);
    expect((await again.read("doc-1")).value).toEqual({ text: "x" });
    await again.close();
  });

  it("lets exactly one of racing creators of an id have it, and never revives a document deleted meanwhile", async () => {
    const r = await memoryReplica();
    const ids = Array.from({ length: 50 }, (_, i) => `r-${i}`);
    const [many, ...singles] = await Promise.allSettled([
      r.createMany(ids.map((id) => ({ id, kind: "yjs" as const }))),
      ...ids.filter((_, i) => i % 2 === 0).map((id) => r.create(id, "automerge")),
      ...ids.filter((_, i) => i % 5 === 0).map((id) => r.deleteRemote(id)),
    ]);
    expect(many.status).toBe("fulfilled");
    const results = many.status === "fulfilled" ? many.value : [];
    for (const [i, id] of ids.entries()) {
      const single = i % 2 === 0 ? singles[i / 2] : undefined;
      const mine = results[i]!.ok;
      const theirs = single?.status === "fulfilled";
      expect(mine && theirs, id).toBe(false);
      const status = await r.status(id);
      if (i % 5 === 0) {
        expect(status.state, id).toBe("deleted");
      } else {
        expect(mine || theirs, id).toBe(true);
        expect(status, id).toMatchObject({ state: "present", kind: mine ? "yjs" : "automerge" });
      }
    }
    await r.close();
  });

  it("refuses a non-array and a closed replica", async () => {
    const r = await memoryReplica();
    await expect(r.createMany({} as never)).rejects.toMatchObject({ code: "invalid_argument" });
    expect(await r.createMany([])).toEqual([]);
    await r.close();
    await expect(r.createMany([{ id: "x", kind: "yjs" }])).rejects.toMatchObject({ code: "closed" });
  });
});
