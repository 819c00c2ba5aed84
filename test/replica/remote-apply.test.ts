import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { openReplica } from "../../src/replica/replica.ts";
import type { ReplicaEvent } from "../../src/replica/types.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { createMemoryStore } from "../../src/storage/memory-store.ts";
import type { Store } from "../../src/storage/store.ts";
import { memoryReplica, testKey, unclosable, yjsClient } from "../helpers/replicas.ts";

/** A copy of everything `store` holds now. */
async function copyOf(store: Store): Promise<Store> {
  const copy = createMemoryStore();
  const writes = [];
  for await (const [key, value] of store.scan(new Uint8Array(0))) writes.push({ key: key.slice(), value: value.slice() });
  await copy.write(writes);
  return copy;
}

/** An Automerge whole state with `note` set, from a replica of its own. */
async function automergeState(note: string, seed = 2): Promise<Uint8Array> {
  const other = await memoryReplica({ masterKey: testKey(seed), random: createSeededRandom(seed) });
  await other.create("x", "automerge");
  await other.change("x", (doc: { note?: string }) => {
    doc.note = note;
  });
  const state = await other.encodeState("x");
  await other.close();
  return state;
}

async function ids(list: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const id of list) out.push(id);
  return out;
}

describe("Replica.applyRemote", () => {
  it("creates nothing when the first delta of an unknown document is invalid", async () => {
    const r = await memoryReplica();
    const events: ReplicaEvent[] = [];
    r.observe((e) => events.push(e));
    await expect(r.applyRemote("never-written", "yjs", Uint8Array.of(1, 2, 3, 4, 5))).rejects.toMatchObject({ code: "invalid_update" });
    await expect(r.applyRemote("never-written-a", "automerge", Uint8Array.of(9, 9, 9))).rejects.toMatchObject({ code: "invalid_update" });
    expect(await r.status("never-written")).toEqual({ state: "absent" });
    expect(await r.status("never-written-a")).toEqual({ state: "absent" });
    expect(events).toEqual([]);
    expect(await ids(r.list())).toEqual([]);
    expect(r.stats().rejectedDeltas).toBe(2);
    await r.close();
  });

  it("creates nothing for a delta that still lacks its dependencies, and creates the document once they arrive", async () => {
    const r = await memoryReplica();
    const client = yjsClient(7);
    const first = client.insert("one");
    const second = client.insert("two");
    await expect(r.applyRemote("d", "yjs", second)).rejects.toMatchObject({ details: { reason: "missing_dependencies" } });
    expect(await r.status("d")).toEqual({ state: "absent" });
    expect(await r.applyRemote("d", "yjs", first)).toBe(true);
    expect(await r.applyRemote("d", "yjs", second)).toBe(true);
    expect((await r.read("d")).value).toEqual({ text: "onetwo" });
    await r.close();
  });

  it("creates a document from a whole state of either kind", async () => {
    const origin = await memoryReplica();
    await origin.create("y", "yjs");
    await origin.create("a", "automerge");
    await origin.update("y", yjsClient(3).insert("hello"));
    await origin.change("a", (doc: { list?: string[] }) => {
      doc.list = ["x", "y"];
    });
    const r = await memoryReplica();
    expect(await r.applyRemote("y", "yjs", await origin.encodeState("y"))).toBe(true);
    expect(await r.applyRemote("a", "automerge", await origin.encodeState("a"))).toBe(true);
    expect((await r.read("y")).value).toEqual({ text: "hello" });
    expect((await r.read("a")).value).toEqual({ list: ["x", "y"] });
    expect((await r.read("a")).version).toBe((await origin.read("a")).version);
    await origin.close();
    await r.close();
  });

  it("merges an Automerge whole state into the document it already holds (anti-entropy's repair), still validated", async () => {
    const b = await memoryReplica({ masterKey: testKey(2), random: createSeededRandom(7) });
    await b.create("x", "automerge");
    await b.change("x", (doc: { fromB?: string }) => {
      doc.fromB = "B";
    });
    const mem = createMemoryStore();
    const r = await openReplica({ store: unclosable(mem), masterKey: testKey(), random: createSeededRandom(1) });
    expect(await r.applyRemote("x", "automerge", await b.encodeState("x"))).toBe(true);
    await r.change("x", (doc: { here?: number }) => {
      doc.here = 1;
    });
    await b.change("x", (doc: { more?: number }) => {
      doc.more = 2;
    });
    expect(await r.applyRemote("x", "automerge", await b.encodeState("x"))).toBe(true);
    expect((await r.read("x")).value).toEqual({ fromB: "B", here: 1, more: 2 });
    expect(r.stats().rejectedDeltas).toBe(0);
    const garbage = (await b.encodeState("x")).slice(0, 40);
    await expect(r.applyRemote("x", "automerge", garbage)).rejects.toMatchObject({ code: "invalid_update" });
    expect(r.stats().rejectedDeltas).toBe(1);
    const live = await r.read("x");
    await b.close();
    await r.close();
    // The log holds the changes the state converted to, which replay: it reloads the same.
    const reopened = await openReplica({ store: mem, masterKey: testKey(), random: createSeededRandom(2) });
    expect(await reopened.read("x")).toEqual(live);
    await reopened.close();
  });

  it("moves a losing yjs document's content to its conflict document, and a late yjs delta there too", async () => {
    const r = await memoryReplica();
    const client = yjsClient(5);
    await r.create("x", "yjs");
    await r.update("x", client.insert("acked "));
    const events: ReplicaEvent[] = [];
    r.observe((e) => events.push(e));

    expect(await r.applyRemote("x", "automerge", await automergeState("winner"))).toBe(true);
    expect(await r.read("x")).toMatchObject({ kind: "automerge", value: { note: "winner" } });
    expect(await r.read("x~yjs-conflict")).toMatchObject({ kind: "yjs", value: { text: "acked " } });
    expect(r.stats().kindConflicts).toBe(1);
    // The move is this region's own change of the conflict document (so gossip pushes it).
    expect(events).toContainEqual(expect.objectContaining({ type: "change", id: "x~yjs-conflict", kind: "yjs", origin: "local" }));

    // A yjs write to x acknowledged elsewhere, arriving late: merged into the conflict document, not rejected.
    expect(await r.applyRemote("x", "yjs", client.insert("late"))).toBe(true);
    expect((await r.read("x~yjs-conflict")).value).toEqual({ text: "acked late" });
    expect((await r.read("x")).value).toEqual({ note: "winner" });
    // Even where x never was yjs: the conflict document is created from a whole state.
    const fresh = await memoryReplica();
    expect(await fresh.applyRemote("x", "automerge", await automergeState("winner"))).toBe(true);
    expect(await fresh.applyRemote("x", "yjs", Y.encodeStateAsUpdate(client.doc))).toBe(true);
    expect((await fresh.read("x~yjs-conflict")).value).toEqual({ text: "acked late" });
    expect(fresh.stats().kindConflicts).toBe(0);
    await fresh.close();
    await r.close();
  });

  it("answers a read-your-writes token of the losing kind with a clear error naming the conflict document", async () => {
    const r = await memoryReplica();
    await r.create("x", "yjs");
    const ack = await r.change("x", (doc: Y.Doc) => doc.getText("t").insert(0, "mine"));
    await r.applyRemote("x", "automerge", await automergeState("W"));
    await expect(r.read("x", { after: ack.token, timeoutMs: 100 })).rejects.toMatchObject({ code: "invalid_argument", message: expect.stringContaining('"x~yjs-conflict"') });
    expect((await r.read("x~yjs-conflict", { after: ack.token })).value).toEqual({ t: "mine" });
    await r.close();
  });

  it("keeps conflict ids for kind conflicts: a client cannot create one, and one never takes the other kind", async () => {
    const r = await memoryReplica();
    await expect(r.create("x~yjs-conflict", "yjs")).rejects.toMatchObject({ code: "invalid_argument", details: { reason: "reserved_id" } });
    await expect(r.create("x~automerge-conflict", "automerge")).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(r.applyRemote("x~yjs-conflict", "automerge", await automergeState("no"))).rejects.toMatchObject({
      code: "invalid_update", details: { reason: "conflicting_kind" },
    });
    expect(await r.status("x~yjs-conflict")).toEqual({ state: "absent" });
    // The longest id still has a conflict id.
    const long = "é".repeat(256);
    await r.create(long, "yjs");
    await r.update(long, yjsClient(1).insert("kept"));
    expect(await r.applyRemote(long, "automerge", await automergeState("won"))).toBe(true);
    expect((await r.read(`${long}~yjs-conflict`)).value).toEqual({ text: "kept" });
    await r.close();
  });

  it("after a crash at any store write of the move, holds the yjs content: in x, or in the conflict document", async () => {
    const mem = createMemoryStore();
    const key = testKey();
    const crashPoints: Store[] = [];
    const store: Store = {
      ...unclosable(mem),
      async write(batch) {
        crashPoints.push(await copyOf(mem)); // what a crash just before this write leaves
        return mem.write(batch);
      },
    };
    const r = await openReplica({ store, masterKey: key, random: createSeededRandom(1) });
    await r.create("x", "yjs");
    await r.change("x", (doc: Y.Doc) => doc.getText("t").insert(0, "acked"));
    await r.change("x", (doc: Y.Doc) => doc.getText("t").insert(5, " twice"));
    crashPoints.length = 0;
    await r.applyRemote("x", "automerge", await automergeState("winner"));
    await r.close();
    crashPoints.push(await copyOf(mem));
    expect(crashPoints.length).toBeGreaterThan(1);
    const outcomes = new Set<string>();
    for (const [i, disk] of crashPoints.entries()) {
      const reopened = await openReplica({ store: disk, masterKey: key, random: createSeededRandom(10 + i) });
      const x = await reopened.read("x");
      const kept = await reopened.status("x~yjs-conflict");
      if (x.kind === "yjs") {
        expect(x.value).toEqual({ t: "acked twice" });
        outcomes.add("before");
      } else {
        expect(kept.state).toBe("present");
        expect((await reopened.read("x~yjs-conflict")).value).toEqual({ t: "acked twice" });
        outcomes.add("after");
      }
      await reopened.close();
    }
    expect([...outcomes].sort()).toEqual(["after", "before"]);
  });
});
