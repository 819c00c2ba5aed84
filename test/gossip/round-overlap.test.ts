/**
 * Anti-entropy rounds with one peer never overlap, and a peer far behind
 * gets one state per document from anti-entropy instead of its backlog of
 * pushes write by write.
 */
import { describe, expect, it } from "vitest";
import type { Gossip } from "../../src/gossip/gossip.ts";
import { createCluster, flush } from "../helpers/cluster.ts";
import { yjsClient } from "../helpers/replicas.ts";

type PeerStats = { antiEntropyRounds: number; needsRepair: boolean; queueDropped: number; queueEntries: number; bytesReceived: number };
const peerStats = (gossip: Gossip, peer: string) => (gossip.stats() as unknown as { peers: Record<string, PeerStats> }).peers[peer]!;

describe("anti-entropy rounds", () => {
  it("runs one round at a time per peer: calls during a round share the single round that follows it", async () => {
    const cluster = await createCluster({ names: ["a", "b"], gossip: { antiEntropyIntervalMs: 1e9 } });
    const a = cluster.get("a");
    await a.replica.create("d", "yjs");
    await a.replica.update("d", yjsClient(1).insert("hello"));
    const roundsBefore = peerStats(a.gossip, "b").antiEntropyRounds;
    let inFlight = 0;
    let most = 0;
    // Counts a's requests to b that have not been answered yet (b answers through the same hook).
    cluster.network.intercept((from, to, frame) => {
      if (from === "a" && to === "b") most = Math.max(most, ++inFlight);
      if (from === "b" && to === "a") inFlight--;
      return frame;
    });
    const first = a.gossip.antiEntropy("b");
    const second = a.gossip.antiEntropy("b");
    const third = a.gossip.antiEntropy("b");
    expect(third).toBe(second);
    expect(second).not.toBe(first);
    await Promise.all([first, second, third]);
    cluster.network.intercept(undefined);
    expect(peerStats(a.gossip, "b").antiEntropyRounds - roundsBefore).toBe(2);
    expect(most).toBe(1);
    await cluster.stop();
  });

  it("drops the backlog of a peer that comes back far behind and repairs it with one state per document", async () => {
    const cluster = await createCluster({ names: ["a", "b"], gossip: { pushBatchMaxBytes: 2048 } });
    const a = cluster.get("a");
    const b = cluster.get("b");
    cluster.network.isolate("b");
    await cluster.settle(1000); // a holds b down
    const clients = Array.from({ length: 10 }, (_, i) => yjsClient(100 + i));
    for (let d = 0; d < clients.length; d++) await a.replica.create(`doc-${d}`, "yjs");
    for (let e = 0; e < 20; e++) {
      for (let d = 0; d < clients.length; d++) await a.replica.update(`doc-${d}`, clients[d]!.insert(`edit ${e} of ${d}; `));
    }
    const backlog = peerStats(a.gossip, "b");
    expect(backlog.queueEntries).toBeGreaterThan(200);
    cluster.network.heal();
    await cluster.settle(3000);
    const after = peerStats(a.gossip, "b");
    expect(after.queueDropped).toBeGreaterThanOrEqual(backlog.queueEntries);
    expect(after.needsRepair).toBe(false);
    for (let d = 0; d < clients.length; d++) {
      expect((await b.replica.read(`doc-${d}`)).value).toEqual({ text: clients[d]!.doc.getText("text").toString() });
    }
    await cluster.stop();
  });
});
