/**
 * A push is applied as a group: entries of one document in order, documents
 * side by side, made durable by a few group commits instead of one store
 * write (one fsync) per entry; and nothing is acked "persisted" before it is.
 */
import { describe, expect, it } from "vitest";
import { createRemoteApplier } from "../../src/gossip/remote-applier.ts";
import type { PushEntry } from "../../src/gossip/messages.ts";
import { createMemoryStore } from "../../src/storage/memory-store.ts";
import type { Store } from "../../src/storage/store.ts";
import { gated, ticks } from "../helpers/gated-store.ts";
import { memoryReplica, yjsClient } from "../helpers/replicas.ts";

/** Counts the store writes (each one a durable batch: an fsync on LMDB). */
function counting(inner: Store): Store & { writes: number } {
  const store = {
    writes: 0,
    get: (k: Uint8Array) => inner.get(k),
    write: (batch: Parameters<Store["write"]>[0]) => {
      store.writes++;
      return inner.write(batch);
    },
    scan: (p: Uint8Array) => inner.scan(p),
    snapshot: () => inner.snapshot(),
    close: () => inner.close(),
  };
  return store;
}

/** `docs` documents with `edits` deltas each, interleaved the way a sender's queue holds them. */
function backlog(docs: number, edits: number): { entries: PushEntry[]; texts: Map<string, string> } {
  const clients = Array.from({ length: docs }, (_, d) => yjsClient(1000 + d));
  const entries: PushEntry[] = [];
  for (let e = 0; e < edits; e++) {
    clients.forEach((client, d) => entries.push({ id: `doc-${d}`, kind: "yjs", delta: client.insert(`${d}.${e};`) }));
  }
  return { entries, texts: new Map(clients.map((c, d) => [`doc-${d}`, c.doc.getText("text").toString()])) };
}

describe("grouped remote apply", () => {
  it("makes a 200-entry push durable in a few store writes, not one per entry, in order per document", async () => {
    const { entries, texts } = backlog(20, 10);
    const writesFor = async (apply: (applier: ReturnType<typeof createRemoteApplier>) => Promise<unknown>) => {
      const store = counting(createMemoryStore());
      const replica = await memoryReplica({ store });
      const before = store.writes;
      await apply(createRemoteApplier(replica, 1 << 20));
      const writes = store.writes - before;
      for (const [id, text] of texts) expect((await replica.read(id)).value).toMatchObject({ text });
      await replica.close();
      return writes;
    };
    const oneByOne = await writesFor(async (applier) => {
      for (const entry of entries) expect(await applier.apply(entry)).toBe("persisted");
    });
    const grouped = await writesFor(async (applier) => expect(await applier.applyAll(entries)).toEqual(entries.map(() => "persisted")));
    console.log(`200 entries over 20 documents: ${grouped} store writes grouped, ${oneByOne} one by one`);
    expect(grouped * 10).toBeLessThanOrEqual(oneByOne);
  });

  it("acks nothing as persisted before the group's store write is durable", async () => {
    const store = gated(createMemoryStore());
    const replica = await memoryReplica({ store });
    const { entries } = backlog(3, 4);
    store.holdWrites();
    let statuses: string[] | undefined;
    const applying = createRemoteApplier(replica, 1 << 20).applyAll(entries).then((s) => (statuses = s));
    await ticks();
    expect(statuses).toBeUndefined();
    store.freeWrites();
    await applying;
    expect(statuses).toEqual(entries.map(() => "persisted"));
    await replica.close();
  });

  it("still buffers a delta whose predecessor comes later in the same push, and applies it once that arrives", async () => {
    const replica = await memoryReplica();
    const client = yjsClient(7);
    const first = client.insert("a");
    const second = client.insert("b");
    const entries: PushEntry[] = [
      { id: "d", kind: "yjs", delta: first },
      { id: "e", kind: "yjs", delta: yjsClient(8).insert("x") },
    ];
    const applier = createRemoteApplier(replica, 1 << 20);
    expect(await applier.applyAll(entries)).toEqual(["persisted", "persisted"]);
    const third = client.insert("c");
    expect(await applier.applyAll([{ id: "d", kind: "yjs", delta: third }, { id: "d", kind: "yjs", delta: second }])).toEqual(["buffered", "persisted"]);
    expect((await replica.read("d")).value).toMatchObject({ text: "abc" });
    expect(applier.stats.pendingDeltas).toBe(0);
    await replica.close();
  });
});
