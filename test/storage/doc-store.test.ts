import { beforeAll, describe, expect, it } from "vitest";
import { openKeyring } from "../../src/crypto/keyring.ts";
import { loadSodium } from "../../src/crypto/sodium.ts";
import { openReplica } from "../../src/replica/replica.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { createDocStore } from "../../src/storage/doc-store.ts";
import { layout } from "../../src/storage/doc-store-layout.ts";
import { createMemoryStore } from "../../src/storage/memory-store.ts";
import type { Store } from "../../src/storage/store.ts";
import { testKey, unclosable, yjsClient } from "../helpers/replicas.ts";

beforeAll(async () => {
  await loadSodium();
});

async function docStore(store: Store, nowMs: number) {
  const random = createSeededRandom(3);
  return createDocStore(store, await openKeyring(store, testKey(), random), random, { clock: createManualClock(nowMs) });
}

describe("document store", () => {
  it("starts boot epochs at the clock's second and grows them by one per open within it", async () => {
    const store = createMemoryStore();
    const t = 1_700_000_000_000;
    expect(await (await docStore(store, t)).nextEpoch()).toBe(1_700_000_000);
    expect(await (await docStore(store, t + 400)).nextEpoch()).toBe(1_700_000_001);
    expect(await (await docStore(store, t + 60_000)).nextEpoch()).toBe(1_700_000_060);
  });

  it("gives a region rebuilt on an empty store, or restored from an older copy, an epoch above all it used", async () => {
    const t = 1_700_000_000_000;
    const old = createMemoryStore();
    const backup = createMemoryStore();
    let used = 0;
    for (let boot = 0; boot < 5; boot++) {
      used = await (await docStore(old, t)).nextEpoch();
      if (boot === 1) for await (const [key, value] of old.scan(new Uint8Array(0))) await backup.write([{ key, value }]);
    }
    // Minutes later (rebuilding takes that long), both come back above every epoch the region used.
    expect(await (await docStore(createMemoryStore(), t + 120_000)).nextEpoch()).toBeGreaterThan(used);
    expect(await (await docStore(backup, t + 120_000)).nextEpoch()).toBeGreaterThan(used);
  });

  it("refuses an older snapshot written back over the current one, instead of rolling the document back", async () => {
    const mem = createMemoryStore();
    const key = testKey();
    const open = (seed: number) => openReplica({ store: unclosable(mem), masterKey: key, random: createSeededRandom(seed), compactMaxLogRecords: 2 });
    const client = yjsClient(1);
    const r1 = await open(1);
    await r1.create("d", "yjs");
    await r1.update("d", client.insert("one;"));
    await r1.update("d", client.insert("two;")); // compacted at seq 2
    await r1.close();
    const hash = (await openKeyring(mem, key, createSeededRandom(1))).docHash("d");
    const older = (await mem.get(layout.snapshot(hash)))!;
    const r2 = await open(2);
    await r2.update("d", client.insert("three;"));
    await r2.update("d", client.insert("four;")); // compacted at seq 4
    expect(r2.stats().compactions).toBe(1);
    await r2.close();

    await mem.write([{ key: layout.snapshot(hash), value: older }]);
    const r3 = await open(3);
    await expect(r3.read("d")).rejects.toMatchObject({ code: "corrupt_record" });
    await r3.close();
  });

  it("still opens a compacted document normally", async () => {
    const mem = createMemoryStore();
    const key = testKey();
    const client = yjsClient(1);
    const r1 = await openReplica({ store: unclosable(mem), masterKey: key, random: createSeededRandom(1), compactMaxLogRecords: 2 });
    await r1.create("d", "yjs");
    for (const word of ["one;", "two;", "three;", "four;", "five;"]) await r1.update("d", client.insert(word));
    expect(r1.stats().compactions).toBe(2);
    await r1.close();
    const r2 = await openReplica({ store: unclosable(mem), masterKey: key, random: createSeededRandom(2) });
    expect((await r2.read("d")).value).toEqual({ text: "one;two;three;four;five;" });
    await r2.close();
  });

  it("replace with keep: the old document's swap and the kept content's document in one store write, or neither", async () => {
    const store = createMemoryStore();
    const docs = await docStore(store, 1_700_000_000_000);
    const hash = new Uint8Array(16);
    const old = await docs.create("x", "yjs", hash);
    await docs.append(old, 1, Uint8Array.of(1));
    const before = docs.stats.batches;
    const { doc, kept } = await docs.replace("x", "automerge", hash, {
      doc: { id: "x~yjs-conflict", kind: "yjs" }, seq: 1, delta: Uint8Array.of(7, 7), versionHash: hash,
    });
    expect(docs.stats.batches).toBe(before + 1);
    expect(doc.kind).toBe("automerge");
    expect((await docs.load("x"))?.log).toEqual([]);
    expect(kept?.id).toBe("x~yjs-conflict");
    expect((await docs.load("x~yjs-conflict"))?.log).toEqual([{ seq: 1, delta: Uint8Array.of(7, 7) }]);
    // Into an existing document it appends at the given sequence.
    const again = await docs.replace("x", "automerge", hash, { doc: kept!, seq: 2, delta: Uint8Array.of(8), versionHash: hash });
    expect((await docs.load("x~yjs-conflict"))?.log.map((r) => r.seq)).toEqual([1, 2]);
    // A kept document shredded here cannot be recreated: nothing is written, the old document stays.
    await docs.append(again.doc, 1, Uint8Array.of(5));
    await docs.delete("gone", 1, true);
    await expect(docs.replace("x", "yjs", hash, {
      doc: { id: "gone", kind: "automerge" }, seq: 1, delta: Uint8Array.of(1), versionHash: hash,
    })).rejects.toMatchObject({ code: "deleted" });
    expect(await docs.load("x")).toMatchObject({ kind: "automerge", log: [{ seq: 1, delta: Uint8Array.of(5) }] });
  });
});
