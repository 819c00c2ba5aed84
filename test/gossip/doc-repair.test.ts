import { describe, expect, it } from "vitest";
import type * as Y from "yjs";
import { openKeyring } from "../../src/crypto/keyring.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { layout } from "../../src/storage/doc-store-layout.ts";
import type { Store } from "../../src/storage/store.ts";
import { createCluster } from "../helpers/cluster.ts";
import { testKey } from "../helpers/replicas.ts";

async function lastLogKey(raw: Store, hash: Uint8Array): Promise<Uint8Array> {
  let last: Uint8Array | undefined;
  for await (const [key] of raw.scan(layout.logPrefix(hash))) last = key;
  return last!;
}

describe("a damaged document", () => {
  it("is repaired from a peer's whole state in one anti-entropy round, while the others keep serving", async () => {
    const cluster = await createCluster({ names: ["a", "b", "c"] });
    const a = cluster.get("a").replica;
    await a.create("text", "yjs");
    await a.create("list", "automerge");
    await a.create("fine", "yjs");
    for (let i = 0; i < 4; i++) {
      await a.change("text", (d: Y.Doc) => d.getText("t").insert(0, `${i};`));
      await a.change("list", (d: { items?: number[] }) => void (d.items ??= []).push(i));
      await a.change("fine", (d: Y.Doc) => d.getText("t").insert(0, `${i};`));
    }
    await cluster.settle(500);

    // In c: a byte flipped in one of "text"'s log records, and "list"'s last record gone (a missing tail).
    const raw = cluster.get("c").disk.open();
    const ring = await openKeyring(raw, testKey(3), createSeededRandom(1));
    const textKey = await lastLogKey(raw, ring.docHash("text"));
    const record = (await raw.get(textKey))!;
    record[record.length - 1]! ^= 0x40;
    await raw.write([{ key: textKey, value: record }, { key: await lastLogKey(raw, ring.docHash("list")) }]);
    const c = (await cluster.restart("c")).replica;

    await expect(c.read("text")).rejects.toMatchObject({ code: "corrupt_record" });
    await expect(c.read("list")).rejects.toMatchObject({ code: "corrupt_record" });
    expect((await c.read("fine")).value).toEqual((await a.read("fine")).value);
    expect(c.damagedDocs().sort()).toEqual(["list", "text"]);

    const report = await cluster.get("c").gossip.antiEntropy("b");
    expect(report.damagedRepaired).toBe(2);
    expect(c.stats().docsRepaired).toBe(2);
    expect(c.damagedDocs()).toEqual([]);
    expect((await c.read("text")).value).toEqual((await a.read("text")).value);
    expect((await c.read("list")).value).toEqual((await a.read("list")).value);

    // Rewritten sealed, it survives a restart and takes writes like any document.
    const again = (await cluster.restart("c")).replica;
    expect((await again.read("list")).value).toEqual((await a.read("list")).value);
    await again.change("list", (d: { items: number[] }) => void d.items.push(4));
    await cluster.settle(1500);
    expect((await a.read("list")).value).toMatchObject({ items: expect.arrayContaining([3, 4]) });
    expect(again.stats().docsRepaired).toBe(0);
    await cluster.stop();
  });

  it("is found by the round's own scrub and repaired in that round, without anyone reading it first", async () => {
    const cluster = await createCluster({ names: ["a", "b"] });
    const a = cluster.get("a").replica;
    await a.create("quiet", "yjs");
    for (let i = 0; i < 3; i++) await a.change("quiet", (d: Y.Doc) => d.getText("t").insert(0, `${i};`));
    await cluster.settle(500);
    const raw = cluster.get("b").disk.open();
    const key = await lastLogKey(raw, (await openKeyring(raw, testKey(2), createSeededRandom(1))).docHash("quiet"));
    await raw.write([{ key }]); // a missing tail; the version record still matches a's
    const b = (await cluster.restart("b")).replica;
    const report = await cluster.get("b").gossip.antiEntropy("a");
    expect(report.damagedRepaired).toBe(1);
    expect(b.stats().docsRepaired).toBe(1);
    expect((await b.read("quiet")).value).toEqual((await a.read("quiet")).value);
    await cluster.stop();
  });

  it("is skipped, not rewritten, when no peer holds it", async () => {
    const cluster = await createCluster({ names: ["a", "b"] });
    const b = cluster.get("b").replica;
    cluster.network.isolate("b");
    await b.create("alone", "yjs");
    await b.change("alone", (d: Y.Doc) => d.getText("t").insert(0, "x"));
    const raw = cluster.get("b").disk.open();
    const hash = (await openKeyring(raw, testKey(2), createSeededRandom(1))).docHash("alone");
    await raw.write([{ key: await lastLogKey(raw, hash) }]);
    const restarted = (await cluster.restart("b")).replica;
    cluster.network.heal();
    await expect(restarted.read("alone")).rejects.toMatchObject({ code: "corrupt_record" });
    const report = await cluster.get("b").gossip.antiEntropy("a");
    expect(report.damagedRepaired).toBe(0);
    expect(report.skipped).toBe(1);
    await expect(restarted.read("alone")).rejects.toMatchObject({ code: "corrupt_record" });
    await cluster.stop();
  });
});
