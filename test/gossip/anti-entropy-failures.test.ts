import { describe, expect, it } from "vitest";
import { loadSodium } from "../../src/crypto/sodium.ts";
import { createGossip, type Gossip } from "../../src/gossip/gossip.ts";
import { createMemoryNetwork } from "../../src/gossip/memory-network.ts";
import { generateRegionKeyPair } from "../../src/gossip/region-keys.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { createCluster, flush } from "../helpers/cluster.ts";
import { memoryReplica, yjsClient } from "../helpers/replicas.ts";

type PeerStats = { up: boolean; needsRepair: boolean; queueDropped: number };
const peerStats = (gossip: Gossip, peer: string) => (gossip.stats() as { peers: Record<string, PeerStats> }).peers[peer]!;

describe("anti-entropy and failure detection under failures", () => {
  it("keeps a peer marked for repair when its queue overflows again while a round is under way", async () => {
    await loadSodium();
    const random = createSeededRandom(8);
    const clock = createManualClock(1_700_000_000_000);
    // Every leg of a request waits 10 ms of virtual time: a round stays under way until the clock moves.
    const network = createMemoryNetwork({ random, clock, latencyMs: 10 });
    const keys = { a: generateRegionKeyPair(random), b: generateRegionKeyPair(random) };
    const quiet = { heartbeatMs: 1e9, antiEntropyIntervalMs: 1e9, downAfterMs: 1e9, queueMaxBytes: 2000 };
    const start = async (self: "a" | "b", other: "a" | "b") => {
      const replica = await memoryReplica({ region: self, clock, random });
      const gossip = createGossip(
        { replica, transport: network.transport(self), clock, random, self, keyPair: keys[self], peers: new Map([[other, keys[other].publicKey]]) },
        quiet,
      );
      await gossip.start();
      return { replica, gossip };
    };
    const a = await start("a", "b");
    const b = await start("b", "a");
    /** Moves virtual time on until `p` settles. */
    const finish = async <T>(p: Promise<T>): Promise<T> => {
      let done = false;
      void p.then(() => (done = true), () => (done = true));
      while (!done) {
        clock.advance(10);
        await flush();
      }
      return p;
    };
    await a.replica.create("d", "yjs");
    const client = yjsClient(1);
    // Writes while the first push is still in flight pile up past the queue bound: dropped, marked for repair.
    const overflow = async () => {
      for (let i = 0; i < 3; i++) await a.replica.update("d", client.insert("x".repeat(900)));
      await flush();
    };
    await overflow();
    expect(peerStats(a.gossip, "b").needsRepair).toBe(true);
    const droppedBefore = peerStats(a.gossip, "b").queueDropped;

    const round = a.gossip.antiEntropy("b");
    await flush();
    await overflow(); // a second overflow while the round is under way
    expect(peerStats(a.gossip, "b").queueDropped).toBeGreaterThan(droppedBefore);
    await finish(round);
    // That round began before the second drop: it cannot vouch for what was dropped during it.
    expect(peerStats(a.gossip, "b").needsRepair).toBe(true);

    for (let i = 0; i < 100; i++) {
      clock.advance(10); // let the pushes drain
      await flush();
    }
    await finish(a.gossip.antiEntropy("b")); // a round with no drop during it repairs the peer
    expect(peerStats(a.gossip, "b").needsRepair).toBe(false);
    expect((await b.replica.read("d")).value).toEqual((await a.replica.read("d")).value);
    a.gossip.stop();
    b.gossip.stop();
  });

  it("marks a peer down when its answers keep failing to open, not only when it is unreachable", async () => {
    const cluster = await createCluster({ names: ["a", "b"] });
    // Everything b sends a arrives garbled: b's answers to a and b's own requests alike.
    cluster.network.intercept((from, to, frame) => {
      if (from !== "b") return frame;
      const garbled = frame.slice();
      garbled[garbled.length - 1]! ^= 1;
      return garbled;
    });
    await cluster.settle(3000);
    expect(peerStats(cluster.get("a").gossip, "b").up).toBe(false);
    await cluster.stop();
  });
});
