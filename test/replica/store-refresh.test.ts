import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import type { DocChange, ReplicaEvent } from "../../src/replica/types.ts";
import { createMemoryStore } from "../../src/storage/memory-store.ts";
import { memoryReplica, unclosable } from "../helpers/replicas.ts";

/** Two processes of one region: replicas over one store, as two processes over one PostgreSQL schema. */
async function twoProcesses() {
  const store = createMemoryStore();
  const one = await memoryReplica({ region: "r", store: unclosable(store) });
  const two = await memoryReplica({ region: "r", store: unclosable(store) });
  return { one, two, close: async () => { await one.close(); await two.close(); await store.close(); } };
}

/** The text "t" as `replica` serves it (from its cache when it holds the document). */
const text = async (replica: Awaited<ReturnType<typeof memoryReplica>>, id: string) => {
  const doc = new Y.Doc();
  Y.applyUpdate(doc, await replica.encodeState(id));
  return doc.getText("t").toString();
};

describe("Replica.refreshFromStore (a write another process of the region made)", () => {
  it("drops the cached copy and announces what the store adds to subscribers, as a remote change gossip does not push", async () => {
    const { one, two, close } = await twoProcesses();
    try {
      await one.create("d", "yjs");
      await one.change("d", (doc: Y.Doc) => doc.getText("t").insert(0, "hello"));
      expect(await text(two, "d")).toBe("hello"); // cached on two now
      const old = new Y.Doc();
      Y.applyUpdate(old, await two.encodeState("d"));
      const heard: DocChange[] = [];
      const observed: ReplicaEvent[] = [];
      two.subscribe("d", (change) => heard.push(change));
      two.observe((event) => observed.push(event));
      await one.change("d", (doc: Y.Doc) => doc.getText("t").insert(5, " world"));
      expect(await text(two, "d")).toBe("hello"); // stale until told
      expect(await two.refreshFromStore("d")).toBe(true);
      expect(await text(two, "d")).toBe("hello world");
      expect(heard).toHaveLength(1);
      expect(heard[0]!.origin).toBe("remote");
      // The announced delta brings a copy at the old version to the new one.
      Y.applyUpdate(old, heard[0]!.delta);
      expect(old.getText("t").toString()).toBe("hello world");
      expect(observed.map((e) => [e.type, e.origin])).toEqual([["change", "remote"]]);
      // Nothing new: nothing announced.
      expect(await two.refreshFromStore("d")).toBe(false);
      expect(heard).toHaveLength(1);
    } finally {
      await close();
    }
  });

  it("leaves a document it does not hold alone: the next read loads the store's version", async () => {
    const { one, two, close } = await twoProcesses();
    try {
      await one.create("e", "yjs");
      await one.change("e", (doc: Y.Doc) => doc.getText("t").insert(0, "x"));
      expect(await two.refreshFromStore("e")).toBe(false);
      expect(await text(two, "e")).toBe("x");
    } finally {
      await close();
    }
  });
});

