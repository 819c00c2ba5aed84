/**
 * The gossip endpoint under abuse: bodies refused before gossip sees them
 * (over the size limit) are still counted as refused frames, so /metrics
 * shows them.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createGossip, type Gossip } from "../../src/gossip/gossip.ts";
import { generateRegionKeyPair } from "../../src/gossip/region-keys.ts";
import type { Replica } from "../../src/replica/replica.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { createServer } from "../../src/server/app.ts";
import { memoryReplica } from "../helpers/replicas.ts";

let replica: Replica;
let gossip: Gossip;
beforeEach(async () => {
  replica = await memoryReplica({ region: "west" });
  const random = createSeededRandom(11);
  const [east, west] = [generateRegionKeyPair(random), generateRegionKeyPair(random)];
  gossip = createGossip({ replica, transport: { send: async () => new Uint8Array(0), serve: () => {} }, clock: createManualClock(0), random, self: "west", keyPair: west, peers: new Map([["east", east.publicKey]]) });
  await gossip.start();
});
afterEach(async () => {
  gossip.stop();
  await replica.close();
});

describe("gossip endpoint limits", () => {
  it("counts a body refused by the size limit as an oversized frame, in the stats and in /metrics", async () => {
    const app = createServer(replica, { gossip, maxFrameBytes: 1024 });
    const r = await app.request("/internal/gossip", { method: "POST", body: new Uint8Array(4096), headers: { "content-type": "application/octet-stream" } });
    expect(r.status).toBe(413);
    expect(gossip.stats().framesRejectedUnknown).toEqual({ oversized: 1 });
    const metrics = await (await app.request("/metrics")).text();
    expect(metrics).toMatch(/concord_frames_rejected_total\{peer="unknown",reason="oversized",region="west"\} 1/);
  });
});
