import { describe, expect, it } from "vitest";
import type * as Y from "yjs";
import { readHeader, sealFrame } from "../../src/gossip/frame.ts";
import { encodeRequest } from "../../src/gossip/messages.ts";
import { derivePairKey } from "../../src/gossip/region-keys.ts";
import { contents, createCluster, flush } from "../helpers/cluster.ts";

/** Runs `work` while advancing virtual time, so timers inside it can fire. */
async function withTime<T>(cluster: Awaited<ReturnType<typeof createCluster>>, work: Promise<T>, maxMs = 10_000): Promise<T> {
  let done = false;
  const result = work.finally(() => (done = true));
  for (let t = 0; t < maxMs && !done; t += 25) {
    await flush();
    cluster.clock.advance(25);
  }
  return result;
}

describe("durability levels", () => {
  it("majority and all acknowledge only after peers persisted the write", async () => {
    const cluster = await createCluster();
    const east = cluster.get("us-east").replica;
    await east.create("d", "yjs");
    await cluster.settle(100);
    const all = await withTime(cluster, east.change("d", (doc: Y.Doc) => doc.getText("t").insert(0, "x"), { durability: "all" }));
    expect(all.replicatedTo).toBe(3);
    // "Persisted" means on the peers' disks: a crash of both right now loses nothing.
    for (const name of ["eu-west", "ap-southeast"]) {
      const region = await cluster.restart(name);
      expect((await region.replica.read("d")).value).toEqual({ t: "x" });
    }
    const majority = await withTime(cluster, east.change("d", (doc: Y.Doc) => doc.getText("t").insert(0, "y"), { durability: "majority" }));
    expect(majority.replicatedTo).toBeGreaterThanOrEqual(2);
    await cluster.stop();
  });

  it("with one peer cut off, all times out and reports how many regions hold the write", async () => {
    const cluster = await createCluster();
    const east = cluster.get("us-east").replica;
    await east.create("d", "yjs");
    await cluster.settle(100);
    cluster.network.cut("us-east", "ap-southeast");
    const ack = await withTime(cluster, east.change("d", (doc: Y.Doc) => doc.getText("t").insert(0, "x"), { durability: "all", timeoutMs: 1000 }));
    expect(ack).toMatchObject({ changed: true, replicatedTo: 2 });
    // The write was not rolled back.
    expect((await east.read("d")).value).toEqual({ t: "x" });
    const majority = await withTime(cluster, east.change("d", (doc: Y.Doc) => doc.getText("t").insert(0, "y"), { durability: "majority", timeoutMs: 1000 }));
    expect(majority.replicatedTo).toBe(2);
    await cluster.stop();
  });
});

describe("bounded queues", () => {
  it("a full peer queue drops, stays bounded, and anti-entropy repairs the peer", async () => {
    const cluster = await createCluster({ gossip: { queueMaxBytes: 4096 } });
    const east = cluster.get("us-east").replica;
    await east.create("d", "yjs");
    await cluster.settle(100);
    cluster.network.isolate("eu-west");
    for (let i = 0; i < 200; i++) await east.change("d", (doc: Y.Doc) => doc.getText("t").insert(0, `write-${i};`));
    const stats = cluster.get("us-east").gossip.stats() as { peers: Record<string, { queueBytes: number; queueDropped: number; needsRepair: boolean }> };
    expect(stats.peers["eu-west"]!.queueBytes).toBeLessThanOrEqual(4096);
    expect(stats.peers["eu-west"]!.queueDropped).toBeGreaterThan(0);
    expect(stats.peers["eu-west"]!.needsRepair).toBe(true);
    cluster.network.heal();
    await cluster.settle(3000);
    const all = [...(await contents(cluster)).values()];
    expect(new Set(all).size).toBe(1);
    await cluster.stop();
  });
});

describe("read your writes", () => {
  it("a read with a token on a lagging region waits, then returns the written state", async () => {
    const cluster = await createCluster();
    const east = cluster.get("us-east").replica;
    const west = cluster.get("eu-west").replica;
    await east.create("d", "automerge");
    await cluster.settle(100);
    cluster.network.cut("us-east", "eu-west");
    cluster.network.cut("ap-southeast", "eu-west");
    const ack = await east.change("d", (doc: { v?: number }) => void (doc.v = 42));
    const read = west.read("d", { after: ack.token, timeoutMs: 5000 });
    await cluster.settle(300);
    cluster.network.heal();
    const view = await withTime(cluster, read);
    expect(view.value).toEqual({ v: 42 });
    await cluster.stop();
  });

  it("fails with not_caught_up when the region cannot catch up in time", async () => {
    const cluster = await createCluster();
    const east = cluster.get("us-east").replica;
    await east.create("d", "yjs");
    await cluster.settle(100);
    cluster.network.isolate("eu-west");
    const ack = await east.change("d", (doc: Y.Doc) => doc.getText("t").insert(0, "x"));
    const read = cluster.get("eu-west").replica.read("d", { after: ack.token, timeoutMs: 500 }).catch((e: unknown) => e);
    expect(await withTime(cluster, read)).toMatchObject({ code: "not_caught_up" });
    await cluster.stop();
  });
});

describe("hostile traffic", () => {
  it("rejects and counts tampered, replayed and unknown frames with no state change", async () => {
    const cluster = await createCluster();
    const east = cluster.get("us-east");
    const west = cluster.get("eu-west");
    await east.replica.create("d", "yjs");
    await cluster.settle(100);
    const captured: Uint8Array[] = [];
    // Hold back east's pushes to west: the test delivers them itself.
    cluster.network.intercept((from, to, frame) => {
      if (from === "us-east" && to === "eu-west") {
        captured.push(frame.slice());
        return undefined;
      }
      return frame;
    });
    await east.replica.change("d", (doc: Y.Doc) => doc.getText("t").insert(0, "real"));
    await cluster.settle(10);
    cluster.network.intercept(undefined);
    const before = JSON.stringify(await west.replica.read("d"));
    type Stats = { peers: Record<string, { framesRejected: Record<string, number> }>; framesRejectedUnknown: Record<string, number> };
    // Before: first contacts (each region heard the other's boot epoch from a refusal of its first request).
    const earlier = (west.gossip.stats() as Stats).peers["us-east"]!.framesRejected;
    const push = captured[0]!;
    const tampered = push.slice();
    tampered[tampered.length - 5]! ^= 1;
    expect(await west.gossip.handle(tampered)).toHaveLength(0);
    expect(await west.gossip.handle(push.subarray(0, 20))).toHaveLength(0); // truncated
    expect(JSON.stringify(await west.replica.read("d"))).toBe(before);
    expect((await west.gossip.handle(push)).length).toBeGreaterThan(0); // the genuine frame still works
    // Replayed: refused with a sealed refusal (it tells the sender where to skip to), and nothing is applied twice.
    const afterGenuine = JSON.stringify(await west.replica.read("d"));
    expect(readHeader(await west.gossip.handle(push), 1 << 20).header.kind).toBe("refusal");
    expect(JSON.stringify(await west.replica.read("d"))).toBe(afterGenuine);
    const stats = west.gossip.stats() as Stats;
    expect(stats.peers["us-east"]!.framesRejected).toEqual({ ...earlier, bad_mac: 1, replayed: 1 });
    expect(stats.framesRejectedUnknown).toEqual({ truncated: 1 });
    await cluster.stop();
  });

  it("answers a peer speaking a newer protocol with the versions it speaks, and a frame whose version byte was changed with nothing", async () => {
    const cluster = await createCluster();
    const east = cluster.get("us-east");
    const west = cluster.get("eu-west");
    await cluster.settle(50);
    let captured: Uint8Array | undefined;
    cluster.network.intercept((from, to, frame) => {
      if (from === "us-east" && to === "eu-west" && !captured) captured = frame.slice();
      return frame;
    });
    await east.replica.create("d", "yjs");
    await cluster.settle(50);
    cluster.network.intercept(undefined);
    const tampered = captured!.slice();
    tampered[2] = 5; // claims protocol version 5, but the version byte is authenticated
    expect((await west.gossip.handle(tampered)).length).toBe(0);
    const key = derivePairKey(east.keyPair, west.keyPair.publicKey);
    const newer = sealFrame({ version: 5, kind: "request", sender: "us-east", receiver: "eu-west", counter: (1n << 62n) + 1n, replyTo: 0n }, encodeRequest({ type: "heartbeat" }), key, cluster.random);
    const answer = await west.gossip.handle(newer);
    expect(answer.length).toBeGreaterThan(0);
    expect(answer[3]).toBe(3); // a refusal frame
    await cluster.stop();
  });

  it("puts nothing readable on the wire", async () => {
    const cluster = await createCluster({ capture: true });
    const east = cluster.get("us-east").replica;
    await east.create("SECRET-ID-q9", "yjs");
    await east.create("SECRET-AM-q9", "automerge");
    await east.change("SECRET-ID-q9", (doc: Y.Doc) => doc.getText("t").insert(0, "SECRET-CONTENT-q9"));
    await east.change("SECRET-AM-q9", (doc: Record<string, string>) => void (doc.k = "SECRET-CONTENT-q9"));
    await cluster.settle(1500);
    expect((await cluster.get("eu-west").replica.read("SECRET-ID-q9")).value).toEqual({ t: "SECRET-CONTENT-q9" });
    expect(cluster.network.captured.length).toBeGreaterThan(10);
    for (const frame of cluster.network.captured) {
      const text = Buffer.from(frame);
      for (const marker of ["SECRET-ID-q9", "SECRET-AM-q9", "SECRET-CONTENT-q9"]) expect(text.includes(marker)).toBe(false);
    }
    await cluster.stop();
  });
});
