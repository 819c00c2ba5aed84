import { describe, expect, it } from "vitest";
import type * as Y from "yjs";
import { openKeyring } from "../../src/crypto/keyring.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { layout } from "../../src/storage/doc-store-layout.ts";
import { createCluster } from "../helpers/cluster.ts";
import { testKey } from "../helpers/replicas.ts";

interface Stats {
  peers: Record<string, { queueEntries: number; antiEntropyRounds: number }>;
  pending: { failed: number };
}

describe("a document that cannot be loaded on a receiver", () => {
  it("fails its own entries only: other documents keep replicating, by push and by anti-entropy, and it is repaired", async () => {
    const cluster = await createCluster({ names: ["a", "b"] });
    const a = cluster.get("a").replica;
    await a.create("bad", "yjs");
    await a.create("good", "yjs");
    await a.change("bad", (d: Y.Doc) => d.getText("t").insert(0, "x"));
    await cluster.settle(300);

    // A flipped byte at rest in b's copy of "bad"; restart b so nothing of it is cached.
    const raw = cluster.get("b").disk.open();
    const hash = (await openKeyring(raw, testKey(2), createSeededRandom(1))).docHash("bad");
    const meta = (await raw.get(layout.meta(hash)))!;
    meta[meta.length - 1]! ^= 1;
    await raw.write([{ key: layout.meta(hash), value: meta }]);
    await cluster.restart("b");
    await cluster.settle(300);
    await expect(cluster.get("b").replica.read("bad")).rejects.toMatchObject({ code: "corrupt_record" });

    // Pushes that mix "bad" and "good" in one batch, then a difference anti-entropy must find.
    await a.change("bad", (d: Y.Doc) => d.getText("t").insert(0, "y"));
    for (let i = 0; i < 5; i++) await a.change("good", (d: Y.Doc) => d.getText("t").insert(0, `${i};`));
    await cluster.settle(3000);
    const b = cluster.get("b").replica;
    expect((await b.read("good")).value).toEqual((await a.read("good")).value);
    const fromA = cluster.get("a").gossip.stats() as unknown as Stats;
    const atB = cluster.get("b").gossip.stats() as unknown as Stats;
    expect(fromA.peers.b!.queueEntries).toBe(0);
    expect(atB.pending.failed).toBeGreaterThan(0);

    // Anti-entropy rounds complete, in both directions, skipping (and counting) the bad document.
    cluster.network.isolate("a");
    await a.change("good", (d: Y.Doc) => d.getText("t").insert(0, "late;"));
    await cluster.settle(100);
    cluster.network.heal();
    const rounds = () => (cluster.get("a").gossip.stats() as unknown as Stats).peers.b!.antiEntropyRounds;
    const roundsBefore = rounds();
    const report = await cluster.get("a").gossip.antiEntropy("b");
    expect(report.repairedThere).toBeGreaterThan(0);
    expect(rounds()).toBe(roundsBefore + 1);
    // b's own rounds (during the settles) repaired it from a's whole state (see doc-repair.test.ts): nothing is skipped now.
    const back = await cluster.get("b").gossip.antiEntropy("a");
    expect(back.skipped).toBe(0);
    expect(b.stats().docsRepaired).toBe(1);
    expect((await b.read("good")).value).toEqual((await a.read("good")).value);
    expect((await b.read("bad")).value).toEqual((await a.read("bad")).value);
    await cluster.stop();
  });
});
