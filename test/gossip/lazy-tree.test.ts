/**
 * The digest tree is built after start(): the region serves at once, a
 * peer's round meanwhile is refused (never answered from a half-built tree)
 * without marking the region down, and once the tree is built rounds work.
 */
import { describe, expect, it } from "vitest";
import { loadSodium } from "../../src/crypto/sodium.ts";
import { createGossip, type Gossip } from "../../src/gossip/gossip.ts";
import { createMemoryNetwork } from "../../src/gossip/memory-network.ts";
import { generateRegionKeyPair } from "../../src/gossip/region-keys.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { createMemoryStore } from "../../src/storage/memory-store.ts";
import type { Store } from "../../src/storage/store.ts";
import { flush } from "../helpers/cluster.ts";
import { memoryReplica, yjsClient } from "../helpers/replicas.ts";

/** A store whose scans wait while held (the tree's inventory is a scan). */
function heldScans(inner: Store): Store & { hold(): void; release(): void } {
  let gate: Promise<void> | undefined;
  let open = () => {};
  return {
    get: (k) => inner.get(k),
    write: (b) => inner.write(b),
    async *scan(prefix) {
      if (gate) await gate;
      yield* inner.scan(prefix);
    },
    snapshot: () => inner.snapshot(),
    close: () => inner.close(),
    hold() {
      gate = new Promise((resolve) => (open = resolve));
    },
    release() {
      gate = undefined;
      open();
    },
  };
}

type PeerStats = { up: boolean };
const peerUp = (gossip: Gossip, peer: string) => (gossip.stats() as unknown as { peers: Record<string, PeerStats> }).peers[peer]!.up;

describe("digest tree built in the background", () => {
  it("serves at once, refuses rounds until the tree is built without being marked down, then repairs", async () => {
    await loadSodium();
    const random = createSeededRandom(3);
    const clock = createManualClock(1_700_000_000_000);
    const network = createMemoryNetwork({ random });
    const keys = { a: generateRegionKeyPair(random), b: generateRegionKeyPair(random) };
    const quiet = { heartbeatMs: 1e9, antiEntropyIntervalMs: 1e9, downAfterMs: 1e9 };
    const store = heldScans(createMemoryStore());
    const aReplica = await memoryReplica({ region: "a", clock, random, store });
    await aReplica.create("d", "yjs");
    await aReplica.update("d", yjsClient(1).insert("held"));
    const bReplica = await memoryReplica({ region: "b", clock, random });
    const gossip = (self: "a" | "b", other: "a" | "b", replica: typeof aReplica) => createGossip(
      { replica, transport: network.transport(self), clock, random, self, keyPair: keys[self], peers: new Map([[other, keys[other].publicKey]]) },
      quiet,
    );
    store.hold();
    const a = gossip("a", "b", aReplica);
    await a.start(); // resolves although the inventory cannot be read yet
    const b = gossip("b", "a", bReplica);
    await b.start();
    expect(a.tree.size).toBe(0);

    let outcome: "pending" | "done" | "refused" = "pending";
    const round = b.antiEntropy("a").then(() => (outcome = "done"), () => (outcome = "refused"));
    for (let i = 0; i < 30 && outcome === "pending"; i++) {
      clock.advance(100); // a waits up to 1 s for its tree, then refuses
      await flush();
    }
    await round;
    expect(outcome).toBe("refused");
    expect(peerUp(b, "a")).toBe(true);
    expect((await bReplica.status("d")).state).toBe("absent");

    store.release();
    await a.treeReady();
    expect(a.tree.size).toBe(1);
    await b.antiEntropy("a");
    expect((await bReplica.read("d")).value).toEqual((await aReplica.read("d")).value);
    a.stop();
    b.stop();
  });
});
