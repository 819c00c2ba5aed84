import { describe, expect, it } from "vitest";
import { loadSodium } from "../../src/crypto/sodium.ts";
import { createGossip } from "../../src/gossip/gossip.ts";
import { createMemoryNetwork } from "../../src/gossip/memory-network.ts";
import { generateRegionKeyPair } from "../../src/gossip/region-keys.ts";
import { openReplica } from "../../src/replica/replica.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { createMemoryDisk, type MemoryDisk } from "../../src/storage/memory-store.ts";
import { flush } from "../helpers/cluster.ts";
import { testKey } from "../helpers/replicas.ts";

describe("a region rebuilt on an empty disk", () => {
  it("is heard by peers that saw the frames of its earlier life", async () => {
    await loadSodium();
    const random = createSeededRandom(11);
    const clock = createManualClock(1_700_000_000_000);
    const network = createMemoryNetwork({ random });
    const keys = { a: generateRegionKeyPair(random), b: generateRegionKeyPair(random) };
    const settle = async (ms: number) => {
      for (let t = 0; t < ms; t += 25) {
        await flush();
        clock.advance(25);
        await flush();
      }
    };
    const boot = async (self: "a" | "b", disk: MemoryDisk) => {
      const other = self === "a" ? "b" : "a";
      const replica = await openReplica({ store: disk.open(), masterKey: testKey(self === "a" ? 1 : 2), region: self, clock, random });
      const gossip = createGossip(
        { replica, transport: network.transport(self), clock, random, self, keyPair: keys[self], peers: new Map([[other, keys[other].publicKey]]) },
        { heartbeatMs: 100, antiEntropyIntervalMs: 300, downAfterMs: 1000 },
      );
      await gossip.start();
      return { replica, gossip };
    };

    const b = await boot("b", createMemoryDisk());
    const aDisk = createMemoryDisk();
    for (let life = 0; life < 4; life++) {
      // Restarts within one second: each boot's epoch is one above the last.
      const a = await boot("a", aDisk);
      await settle(300);
      a.gossip.stop();
      await a.replica.close();
    }
    // Each life's first request is refused as stale_epoch (it has not heard b's epoch yet); none as replayed.
    const refusedOf = () => Object.keys(b.gossip.stats().peers.a?.framesRejected ?? {});
    expect(refusedOf().filter((reason) => reason !== "stale_epoch")).toEqual([]);

    clock.advance(10 * 60_000); // the disk is replaced and the region provisioned again: minutes later
    const rebuilt = await boot("a", createMemoryDisk());
    await rebuilt.replica.create("after-rebuild", "yjs");
    await settle(2000);
    expect(await b.replica.status("after-rebuild")).toMatchObject({ state: "present" });
    expect(refusedOf().filter((reason) => reason !== "stale_epoch")).toEqual([]);
    rebuilt.gossip.stop();
    b.gossip.stop();
  });
});
