import { describe, expect, it } from "vitest";
import { loadSodium } from "../../src/crypto/sodium.ts";
import { readHeader } from "../../src/gossip/frame.ts";
import type { FrameRejectionEvent } from "../../src/gossip/frame-refusal.ts";
import { createGossip, type Gossip } from "../../src/gossip/gossip.ts";
import { createMemoryNetwork } from "../../src/gossip/memory-network.ts";
import { generateRegionKeyPair } from "../../src/gossip/region-keys.ts";
import type { Transport } from "../../src/gossip/transport.ts";
import { openReplica, type Replica } from "../../src/replica/replica.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { createMemoryDisk, type MemoryDisk } from "../../src/storage/memory-store.ts";
import { flush } from "../helpers/cluster.ts";
import { testKey } from "../helpers/replicas.ts";

type PeerFigures = { up: boolean; framesRejected: Record<string, number>; countersSkipped: number };
const peerStats = (gossip: Gossip, peer: string) => (gossip.stats() as { peers: Record<string, PeerFigures> }).peers[peer]!;

/** Two regions, a and b, on a memory network and a manual clock; "a" can be opened twice on one disk. */
async function twoRegions() {
  await loadSodium();
  const random = createSeededRandom(5);
  const clock = createManualClock(1_700_000_000_000);
  const network = createMemoryNetwork({ random });
  const keys = { a: generateRegionKeyPair(random), b: generateRegionKeyPair(random) };
  const running: Array<{ replica: Replica; gossip: Gossip }> = [];
  const settle = async (ms: number) => {
    for (let t = 0; t < ms; t += 25) {
      await flush();
      clock.advance(25);
      await flush();
    }
  };
  const boot = async (self: "a" | "b", disk: MemoryDisk, transport: Transport = network.transport(self), onRejected?: (r: FrameRejectionEvent) => void) => {
    const other = self === "a" ? "b" : "a";
    const replica = await openReplica({ store: disk.open(), masterKey: testKey(self === "a" ? 1 : 2), region: self, clock, random });
    const gossip = createGossip(
      { replica, transport, clock, random, self, keyPair: keys[self], peers: new Map([[other, keys[other].publicKey]]) },
      { heartbeatMs: 100, antiEntropyIntervalMs: 300, downAfterMs: 500, retryBaseMs: 20, retryMaxMs: 200, ...(onRejected ? { onFrameRejected: onRejected } : {}) },
    );
    await gossip.start();
    running.push({ replica, gossip });
    return { replica, gossip };
  };
  const stopAll = async () => {
    for (const r of running) {
      r.gossip.stop();
      await r.replica.close().catch(() => undefined);
    }
  };
  return { network, clock, settle, boot, stopAll };
}

describe("a region whose frames a peer refuses as replayed", () => {
  it("recovers by itself after a second process on its store bumped the epoch", async () => {
    const { network, settle, boot, stopAll } = await twoRegions();
    const b = await boot("b", createMemoryDisk());
    const aDisk = createMemoryDisk();
    const a = await boot("a", aDisk);
    await a.replica.create("before", "yjs");
    await settle(300);
    expect(await b.replica.status("before")).toMatchObject({ state: "present" });

    // A second process opens a's store: its boot epoch is above the first process's, and b hears from it.
    // It only sends (the first process keeps a's address), as a second `concord serve` on another port would.
    const sender = network.transport("a");
    const second = await boot("a", aDisk, { send: (peer, frame) => sender.send(peer, frame), serve: () => {} });
    expect(second.replica.epoch).toBeGreaterThan(a.replica.epoch);
    await settle(300);
    second.gossip.stop();
    await second.replica.close();

    // The first process goes on: b refuses its next frames as replayed, tells it so, and it skips past.
    await a.replica.create("after", "yjs");
    await settle(1000);
    expect(peerStats(b.gossip, "a").framesRejected.replayed).toBeGreaterThan(0);
    expect(await b.replica.status("after")).toMatchObject({ state: "present" });
    expect(peerStats(a.gossip, "b").countersSkipped).toBe(1);
    // And it stays recovered: no frame of a's is refused any more.
    const refused = peerStats(b.gossip, "a").framesRejected.replayed;
    await a.replica.create("later", "yjs");
    await settle(1000);
    expect(peerStats(b.gossip, "a").framesRejected.replayed).toBe(refused);
    expect(await b.replica.status("later")).toMatchObject({ state: "present" });
    expect(peerStats(a.gossip, "b").up).toBe(true);
    await stopAll();
  });

  it("does not act on a refusal replayed by an attacker as the answer to another request", async () => {
    const { network, settle, boot, stopAll } = await twoRegions();
    const b = await boot("b", createMemoryDisk());
    const a = await boot("a", createMemoryDisk());
    await settle(200);
    // An attacker replays one of a's requests to b and keeps b's genuine refusal…
    let request: Uint8Array | undefined;
    network.intercept((from, to, frame) => {
      if (!request && from === "a" && to === "b") request = frame.slice();
      return frame;
    });
    await settle(200);
    network.intercept(undefined);
    const refusal = await b.gossip.handle(request!);
    expect(readHeader(refusal, 1 << 20).header.kind).toBe("refusal");

    // …and hands it to a in place of the answers to a's later requests.
    network.intercept((from, to, frame) => (from === "b" && to === "a" ? refusal : frame));
    await settle(300);
    network.intercept(undefined);
    // a refused it (an answer to another request, and then a replay of b's frame): its counters did not move,
    // so b still accepts a's frames without a single replay refusal.
    expect(peerStats(a.gossip, "b").framesRejected.unexpected).toBeGreaterThan(0);
    const replayedAtB = peerStats(b.gossip, "a").framesRejected.replayed;
    await a.replica.create("d", "yjs");
    await settle(500);
    expect(await b.replica.status("d")).toMatchObject({ state: "present" });
    expect(peerStats(b.gossip, "a").framesRejected.replayed).toBe(replayedAtB);
    expect(peerStats(a.gossip, "b").countersSkipped).toBe(0);
    await stopAll();
  });
});

describe("outbound failure", () => {
  it("marks a peer down when it refuses every frame we send, although its own frames reach us, and says why it refused", async () => {
    const { network, settle, boot, stopAll } = await twoRegions();
    const rejections: FrameRejectionEvent[] = [];
    const b = await boot("b", createMemoryDisk(), undefined, (r) => rejections.push(r));
    const a = await boot("a", createMemoryDisk());
    await settle(300);
    expect(peerStats(a.gossip, "b").up).toBe(true);
    // Every frame a sends to b arrives damaged; b's frames to a arrive intact, and a answers them.
    network.intercept((from, to, frame) => {
      if (from !== "a" || to !== "b") return frame;
      const damaged = frame.slice();
      damaged[damaged.length - 1]! ^= 1;
      return damaged;
    });
    await settle(1500);
    expect(peerStats(a.gossip, "b").up).toBe(false);
    expect(peerStats(b.gossip, "a").framesRejected.bad_mac).toBeGreaterThan(0);
    network.intercept(undefined);
    await settle(500);
    expect(peerStats(a.gossip, "b").up).toBe(true);
    expect(rejections.find((r) => r.reason !== "stale_epoch")).toMatchObject({ peer: "a", reason: "bad_mac" });
    await stopAll();
  });
});
