import { describe, expect, it } from "vitest";
import { loadSodium } from "../../src/crypto/sodium.ts";
import { createGossip } from "../../src/gossip/gossip.ts";
import { createMemoryNetwork } from "../../src/gossip/memory-network.ts";
import { generateRegionKeyPair } from "../../src/gossip/region-keys.ts";
import { createManualClock, type Clock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { flush } from "../helpers/cluster.ts";
import { memoryReplica, yjsClient } from "../helpers/replicas.ts";

/** Wraps a clock to count timers set, fired and cancelled. */
function countingClock(inner: Clock) {
  const counts = { set: 0, fired: 0, cancelled: 0 };
  const clock: Clock = {
    now: () => inner.now(),
    timer(ms, fn) {
      counts.set++;
      let done = false;
      const cancel = inner.timer(ms, () => {
        done = true;
        counts.fired++;
        fn();
      });
      return () => {
        counts.cancelled++;
        if (!done) cancel();
      };
    },
  };
  return { clock, counts };
}

describe("gossip timers", () => {
  it("keeps only the timers still pending, not one cancel function for every timer it ever set", async () => {
    await loadSodium();
    const random = createSeededRandom(5);
    const manual = createManualClock(1_700_000_000_000);
    const { clock, counts } = countingClock(manual);
    const network = createMemoryNetwork({ random });
    const [ka, kb] = [generateRegionKeyPair(random), generateRegionKeyPair(random)];
    const replica = await memoryReplica({ region: "a", clock, random });
    // Peer b never answers: heartbeats, retries and anti-entropy ticks keep setting timers.
    const gossip = createGossip(
      { replica, transport: network.transport("a"), clock, random, self: "a", keyPair: ka, peers: new Map([["b", kb.publicKey]]) },
      { heartbeatMs: 50, antiEntropyIntervalMs: 100, retryBaseMs: 10, retryMaxMs: 40, downAfterMs: 1e9 },
    );
    await gossip.start();
    await replica.create("d", "yjs");
    await replica.update("d", yjsClient(1).insert("queued for b"));
    for (let i = 0; i < 400; i++) {
      await flush();
      manual.advance(10);
    }
    const pending = counts.set - counts.fired;
    expect(counts.fired).toBeGreaterThan(100);
    gossip.stop();
    // stop() cancels what is pending, and nothing else: the timers that fired left no trace behind.
    expect(counts.cancelled).toBeLessThanOrEqual(pending);
    await replica.close();
  });
});
