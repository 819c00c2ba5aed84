import { beforeAll, describe, expect, it } from "vitest";
import { openKeyring } from "../../src/crypto/keyring.ts";
import { loadSodium } from "../../src/crypto/sodium.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { createDocStore, type DocStore } from "../../src/storage/doc-store.ts";
import { layout } from "../../src/storage/doc-store-layout.ts";
import { createMemoryStore } from "../../src/storage/memory-store.ts";
import type { Store } from "../../src/storage/store.ts";
import { testKey } from "../helpers/replicas.ts";

beforeAll(async () => {
  await loadSodium();
});

const zeroHash = new Uint8Array(16);
const delta = (n: number) => Uint8Array.of(n, n, n);

async function docStore(store: Store): Promise<{ docs: DocStore; hash: (id: string) => Uint8Array }> {
  const random = createSeededRandom(3);
  const ring = await openKeyring(store, testKey(), random);
  return { docs: createDocStore(store, ring, random), hash: (id) => ring.docHash(id) };
}

/** A document "d" with log records 1..n. */
async function withLog(n: number) {
  const store = createMemoryStore();
  const { docs, hash } = await docStore(store);
  const doc = await docs.create("d", "yjs", zeroHash);
  for (let seq = 1; seq <= n; seq++) await docs.append(doc, seq, delta(seq));
  return { store, docs, doc, h: hash("d") };
}

async function copyOf(store: Store): Promise<Store> {
  const copy = createMemoryStore();
  for await (const [key, value] of store.scan(new Uint8Array(0))) await copy.write([{ key, value }]);
  return copy;
}

describe("a document's record set", () => {
  it("is refused when its last log record is missing", async () => {
    const { store, docs, h } = await withLog(3);
    await store.write([{ key: layout.log(h, 3) }]);
    await expect(docs.load("d")).rejects.toMatchObject({ code: "corrupt_record", message: expect.stringMatching(/ends at 2/) });
  });

  it("is refused when its metadata is rolled back under a longer log", async () => {
    const { store, docs, doc, h } = await withLog(2);
    const olderMeta = (await store.get(layout.meta(h)))!;
    await docs.append(doc, 3, delta(3));
    await store.write([{ key: layout.meta(h), value: olderMeta }]);
    await expect(docs.load("d")).rejects.toMatchObject({ code: "corrupt_record", message: expect.stringMatching(/beyond its head/) });
  });

  it("is refused when a log record comes from a copy that diverged at the same sequence", async () => {
    const { store, docs, doc, h } = await withLog(2);
    const diverged = await copyOf(store);
    const other = await docStore(diverged);
    const otherDoc = (await other.docs.load("d"))!;
    await other.docs.append(otherDoc, 3, delta(30));
    await docs.append(doc, 3, delta(3));
    await docs.append(doc, 4, delta(4));
    // Record 3 of the other copy opens at its place (same key, same sequence, same predecessor) ...
    await store.write([{ key: layout.log(h, 3), value: (await diverged.get(layout.log(h, 3)))! }]);
    // ... but record 4 chains to the record 3 this copy wrote.
    await expect(docs.load("d")).rejects.toMatchObject({ code: "corrupt_record", message: expect.stringMatching(/log record 4/) });
    // As the last record, it is refused by the head its metadata names.
    await store.write([{ key: layout.log(h, 4) }]);
    await store.write([{ key: layout.meta(h), value: (await diverged.get(layout.meta(h)))! }]);
    await store.write([{ key: layout.log(h, 3), value: (await diverged.get(layout.log(h, 3)))! }]);
    expect((await docs.load("d"))?.log.at(-1)).toEqual({ seq: 3, delta: delta(30) }); // the other copy, whole: consistent
  });

  it("is refused when a log record is swapped for another of the same document", async () => {
    const { store, docs, h } = await withLog(3);
    await store.write([{ key: layout.log(h, 2), value: (await store.get(layout.log(h, 3)))! }]);
    await expect(docs.load("d")).rejects.toMatchObject({ code: "corrupt_record" });
  });

  it("is refused when a snapshot appears that its metadata does not name", async () => {
    const { store, docs, doc, h } = await withLog(2);
    const copy = await copyOf(store);
    await docs.compact(doc, 2, delta(9), 0);
    await copy.write([{ key: layout.snapshot(h), value: (await store.get(layout.snapshot(h)))! }]);
    await expect((await docStore(copy)).docs.load("d")).rejects.toMatchObject({ code: "corrupt_record" });
  });

  it("is refused, not read as absent, when its data key is gone but its version record remains", async () => {
    const { store, docs, h } = await withLog(2);
    await store.write([{ key: layout.dataKey(h) }]);
    await expect(docs.load("d")).rejects.toMatchObject({ code: "corrupt_record", message: expect.stringMatching(/data key/) });
  });

  it("opens after compaction and further appends, and keeps every record in order", async () => {
    const { docs, doc } = await withLog(3);
    await docs.compact(doc, 3, delta(9), 0);
    await docs.append(doc, 4, delta(4));
    await docs.append(doc, 5, delta(5));
    const stored = (await docs.load("d"))!;
    expect(stored.snapshotSeq).toBe(3);
    expect(stored.log).toEqual([{ seq: 4, delta: delta(4) }, { seq: 5, delta: delta(5) }]);
    // The loaded handle carries the head on: appends through it chain to what is stored.
    await docs.append(stored, 6, delta(6));
    expect((await docs.load("d"))?.log.map((r) => r.seq)).toEqual([4, 5, 6]);
  });

  it("opens an older copy of ALL its records as the older state: only a peer can tell (documented limit)", async () => {
    const { store, docs, doc } = await withLog(2);
    const older = await copyOf(store);
    await docs.append(doc, 3, delta(3));
    expect((await (await docStore(older)).docs.load("d"))?.log.map((r) => r.seq)).toEqual([1, 2]);
  });
});
