import { describe, expect, it } from "vitest";
import type * as Y from "yjs";
import { isConcordError } from "../../src/errors.ts";
import { openReplica } from "../../src/replica/replica.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { createMemoryStore } from "../../src/storage/memory-store.ts";
import { memoryReplica, testKey, unclosable, yjsClient } from "../helpers/replicas.ts";

describe("Replica", () => {
  it("creates, updates and reads a Yjs document", async () => {
    const r = await memoryReplica();
    const created = await r.create("notes", "yjs");
    expect(created).toMatchObject({ id: "notes", kind: "yjs", value: {} });
    const client = yjsClient(101);
    const ack = await r.update("notes", client.insert("hello"));
    expect(ack.changed).toBe(true);
    expect(ack.version).not.toBe(created.version);
    const doc = await r.read("notes");
    expect(doc).toMatchObject({ id: "notes", kind: "yjs", value: { text: "hello" }, version: ack.version });
    await r.close();
  });

  it("edits both kinds in place with change()", async () => {
    const r = await memoryReplica();
    await r.create("y", "yjs");
    await r.create("a", "automerge");
    await r.change("y", (doc: Y.Doc) => doc.getMap("m").set("k", 1));
    await r.change("a", (doc: { list?: string[] }) => {
      doc.list = ["x"];
    });
    expect((await r.read("y")).value).toEqual({ m: { k: 1 } });
    expect((await r.read("a")).value).toEqual({ list: ["x"] });
    await r.close();
  });

  it("refuses to create a document twice", async () => {
    const r = await memoryReplica();
    await r.create("d", "automerge");
    await expect(r.create("d", "yjs")).rejects.toMatchObject({ code: "exists" });
    await r.close();
  });

  it("reports a missing document as not_found", async () => {
    const r = await memoryReplica();
    await expect(r.read("nope")).rejects.toMatchObject({ code: "not_found" });
    await expect(r.update("nope", new Uint8Array([0, 0]))).rejects.toMatchObject({ code: "not_found" });
    await r.close();
  });

  it("rejects bad ids and kinds with invalid_argument", async () => {
    const r = await memoryReplica();
    await expect(r.create("", "yjs")).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(r.create("a\nb", "yjs")).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(r.create("x".repeat(513), "yjs")).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(r.create("ok", "json" as never)).rejects.toMatchObject({ code: "invalid_argument" });
    await r.close();
  });

  it("acknowledges a duplicate delta without changing anything", async () => {
    const r = await memoryReplica();
    await r.create("d", "yjs");
    const delta = yjsClient(5).insert("once");
    const first = await r.update("d", delta);
    const again = await r.update("d", delta);
    expect(again).toMatchObject({ id: "d", version: first.version, changed: false, token: first.version });
    expect((await r.read("d")).value).toEqual({ text: "once" });
    await r.close();
  });

  it("rejects a malformed delta and keeps the document as it was", async () => {
    const r = await memoryReplica();
    await r.create("d", "yjs");
    await r.update("d", yjsClient(5).insert("kept"));
    const before = await r.read("d");
    for (const bad of [new Uint8Array([255, 255, 255, 255, 1]), new Uint8Array([1, 2, 3]), yjsClient(6).insert("xyz").subarray(0, 5)]) {
      const error = await r.update("d", bad).catch((e: unknown) => e);
      expect(isConcordError(error, "invalid_update")).toBe(true);
    }
    expect(await r.read("d")).toEqual(before);
    expect(r.stats().rejectedDeltas).toBe(3);
    await r.close();
  });

  it("rejects a delta whose dependencies it does not have, when told not to wait for them", async () => {
    const r = await memoryReplica();
    await r.create("d", "yjs");
    const client = yjsClient(9);
    client.insert("first");
    const second = client.insert(" second");
    await expect(r.update("d", second, { timeoutMs: 0 })).rejects.toMatchObject({ code: "invalid_update", details: { reason: "missing_dependencies" } });
    expect((await r.read("d")).value).toEqual({});
    await r.update("d", client.updates[0]!);
    await r.update("d", second);
    expect((await r.read("d")).value).toEqual({ text: "first second" });
    await r.close();
  });

  it("tells subscribers about durable changes, and stops when asked", async () => {
    const r = await memoryReplica();
    await r.create("d", "yjs");
    const seen: string[] = [];
    const off = r.subscribe("d", (change) => seen.push(change.version));
    const ack = await r.update("d", yjsClient(1).insert("a"));
    expect(seen).toEqual([ack.version]);
    off();
    await r.update("d", yjsClient(2).insert("b"));
    expect(seen).toHaveLength(1);
    await r.close();
  });

  it("lists ids in order, by prefix, with a limit and a cursor", async () => {
    const r = await memoryReplica();
    for (const id of ["b/2", "a/1", "b/1", "c", "b/3"]) await r.create(id, "yjs");
    const all: string[] = [];
    for await (const id of r.list()) all.push(id);
    expect(all).toEqual(["a/1", "b/1", "b/2", "b/3", "c"]);
    const page: string[] = [];
    for await (const id of r.list({ prefix: "b/", after: "b/1", limit: 1 })) page.push(id);
    expect(page).toEqual(["b/2"]);
    await r.close();
  });

  it("groups concurrent writers into few store writes", async () => {
    const r = await memoryReplica();
    await r.create("d", "yjs");
    const client = yjsClient(3);
    const deltas = Array.from({ length: 64 }, (_, i) => client.insert(String(i % 10)));
    const before = r.stats().storeBatches;
    await Promise.all(deltas.map((d) => r.update("d", d)));
    expect(r.stats().storeBatches - before).toBeLessThan(8);
    expect(((await r.read("d")).value as { text: string }).text).toHaveLength(64);
    await r.close();
  });

  it("keeps every write through compaction and eviction", async () => {
    const r = await memoryReplica({ cacheMaxBytes: 1, compactMinLogBytes: 256, compactMaxLogRecords: 16 });
    const clients = [yjsClient(11), yjsClient(12)];
    await r.create("a", "yjs");
    await r.create("b", "yjs");
    let expected = "";
    for (let i = 0; i < 200; i++) {
      const text = `w${i};`;
      expected += text;
      await r.update(i % 2 === 0 ? "a" : "b", clients[i % 2]!.insert(text));
    }
    expect(r.stats().compactions).toBeGreaterThan(0);
    expect(r.stats().cacheEvictions).toBeGreaterThan(0);
    const a = (await r.read("a")).value as { text: string };
    const b = (await r.read("b")).value as { text: string };
    expect(a.text.length + b.text.length).toBe(expected.length);
    await r.close();
  });

  it("fails every call after close", async () => {
    const r = await memoryReplica();
    await r.create("d", "yjs");
    await r.close();
    await expect(r.read("d")).rejects.toMatchObject({ code: "closed" });
  });

  it("refuses a client delta over the limit but keeps and reloads a document grown past it", async () => {
    const store = createMemoryStore();
    const options = { masterKey: testKey(), random: createSeededRandom(5), limits: { maxDeltaBytes: 2048 }, compactMinLogBytes: 1024 };
    const r = await openReplica({ store: unclosable(store), ...options });
    await r.create("big", "yjs");
    const client = yjsClient(8);
    await expect(r.update("big", yjsClient(9).insert("x".repeat(4096)))).rejects.toMatchObject({ code: "too_large" });
    for (let i = 0; i < 40; i++) await r.update("big", client.insert(`${"y".repeat(200)}${i}`));
    expect(r.stats().compactions).toBeGreaterThan(0);
    const before = await r.read("big");
    await r.close();
    const again = await openReplica({ store: unclosable(store), ...options });
    expect(await again.read("big")).toEqual(before);
    // A region may hand over the whole state in one delta: bounded by the snapshot limit instead.
    const other = await openReplica({ store: createMemoryStore(), ...options });
    expect(await other.applyRemote("big", "yjs", await again.encodeState("big"))).toBe(true);
    expect((await other.read("big")).value).toEqual(before.value);
  });
});
