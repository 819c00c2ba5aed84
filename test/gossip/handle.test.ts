import { describe, expect, it } from "vitest";
import { readHeader } from "../../src/gossip/frame.ts";
import { contents, createCluster } from "../helpers/cluster.ts";

describe("serving frames", () => {
  it("refuses and counts a response or refusal frame fed to handle(), changing nothing", async () => {
    const cluster = await createCluster({ names: ["a", "b"] });
    // Take one response of b's off the wire before a sees it: a fresh counter, so only its kind is wrong.
    let taken: Uint8Array | undefined;
    cluster.network.intercept((from, to, frame) => {
      if (taken || from !== "b" || to !== "a" || readHeader(frame, 1 << 30).header.kind !== "response") return frame;
      taken = frame.slice();
      return undefined;
    });
    await cluster.get("a").replica.create("d", "yjs");
    await cluster.settle(300);
    expect(taken).toBeDefined();
    const before = await contents(cluster);

    const a = cluster.get("a").gossip;
    const answer = await a.handle(taken!);
    expect(answer.length).toBe(0); // an empty answer: refused
    const stats = a.stats() as { peers: Record<string, { framesRejected: Record<string, number> }> };
    expect(stats.peers.b!.framesRejected.unexpected).toBe(1);
    expect(await contents(cluster)).toEqual(before);
    await cluster.stop();
  });
});
