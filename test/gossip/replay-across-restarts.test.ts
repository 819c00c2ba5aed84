/**
 * Issue 10, finding 7: frames captured between two regions and replayed after
 * a restart are refused, whichever side restarted. Real frames (real gossip on
 * a memory network), a receiver on LMDB in a temp dir (its boot epoch is what
 * it persists), every captured frame replayed.
 */
import { afterEach, describe, expect, it } from "vitest";
import * as Y from "yjs";
import { loadSodium } from "../../src/crypto/sodium.ts";
import { readHeader } from "../../src/gossip/frame.ts";
import { createGossip, type Gossip } from "../../src/gossip/gossip.ts";
import { createMemoryNetwork } from "../../src/gossip/memory-network.ts";
import { generateRegionKeyPair } from "../../src/gossip/region-keys.ts";
import { openReplica, type Replica } from "../../src/replica/replica.ts";
import type { ReplicaEvent } from "../../src/replica/types.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { openLmdbStore } from "../../src/storage/lmdb-store.ts";
import { createMemoryDisk } from "../../src/storage/memory-store.ts";
import { flush } from "../helpers/cluster.ts";
import { tempDir, testKey } from "../helpers/replicas.ts";

type Running = { replica: Replica; gossip: Gossip };
type PeerFigures = { framesRejected: Record<string, number> };
const rejectedAt = (gossip: Gossip, peer: string) => (gossip.stats() as { peers: Record<string, PeerFigures> }).peers[peer]!.framesRejected;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** Region a on a memory disk, region b on LMDB in a temp dir; either can be stopped and started again. */
async function twoRegions() {
  await loadSodium();
  const random = createSeededRandom(10);
  const clock = createManualClock(1_700_000_000_000);
  const network = createMemoryNetwork({ random });
  const keys = { a: generateRegionKeyPair(random), b: generateRegionKeyPair(random) };
  const aDisk = createMemoryDisk();
  const bDir = await tempDir("concord-replay-");
  const running = new Set<Running>();
  cleanups.push(async () => {
    for (const r of running) await stop(r);
    await bDir.remove();
  });
  const stop = async (r: Running) => {
    r.gossip.stop();
    await r.replica.close().catch(() => undefined);
    running.delete(r);
  };
  const start = async (self: "a" | "b"): Promise<Running> => {
    const other = self === "a" ? "b" : "a";
    const store = self === "a" ? aDisk.open() : await openLmdbStore({ path: bDir.path });
    const replica = await openReplica({ store, masterKey: testKey(self === "a" ? 1 : 2), region: self, clock, random });
    const gossip = createGossip(
      { replica, transport: network.transport(self), clock, random, self, keyPair: keys[self], peers: new Map([[other, keys[other].publicKey]]) },
      { heartbeatMs: 100, antiEntropyIntervalMs: 300, downAfterMs: 500, retryBaseMs: 20, retryMaxMs: 200 },
    );
    await gossip.start();
    const r = { replica, gossip };
    running.add(r);
    return r;
  };
  const step = async () => {
    await flush();
    clock.advance(25);
    await flush();
  };
  const settle = async (ms: number) => {
    for (let t = 0; t < ms; t += 25) await step();
  };
  /** Runs virtual time until `done()` holds; b's LMDB commits take real time, so real time passes too. */
  const until = async (done: () => Promise<boolean>, what: string) => {
    for (let i = 0; i < 20_000; i++) {
      if (await done()) return;
      await step();
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    throw new Error(`timed out waiting until ${what}`);
  };
  return { network, start, stop, settle, until };
}

/** Writes that replicate: a few documents, each created and edited. */
async function write(replica: Replica, prefix: string, docs: number) {
  for (let i = 0; i < docs; i++) {
    const id = `${prefix}-${i}`;
    await replica.create(id, "yjs");
    await replica.change(id, (doc: Y.Doc) => doc.getText("t").insert(0, `${prefix} ${i}`));
  }
}

/** Hands every frame to `gossip` as an attacker would; the answers' kinds, and the remote changes it made. */
async function replay(target: Running, frames: Uint8Array[]) {
  const applied: ReplicaEvent[] = [];
  const off = target.replica.observe((event) => event.origin === "remote" && applied.push(event));
  const answers = { refusal: 0, empty: 0, response: 0 };
  for (const frame of frames) {
    const answer = await target.gossip.handle(frame);
    if (answer.length === 0) answers.empty++;
    else if (readHeader(answer, 1 << 30).header.kind === "refusal") answers.refusal++;
    else answers.response++;
  }
  off();
  return { answers, applied };
}

describe("frames replayed across restarts (issue 10, finding 7)", () => {
  it("refuses every frame captured before the receiver restarted, delivered or not, and applies none", async () => {
    const { network, start, stop, settle, until } = await twoRegions();
    const a = await start("a");
    let b = await start("b");
    const delivered: Uint8Array[] = [];
    const withheld: Uint8Array[] = [];
    network.intercept((from, to, frame) => {
      if (from === "a" && to === "b") delivered.push(frame.slice());
      return frame;
    });
    await write(a.replica, "seen", 20);
    await until(async () => (await b.replica.status("seen-19")).state === "present", "b holds a's writes");
    // Then a's frames to b are captured and never arrive: b has never seen these writes.
    network.intercept((from, to, frame) => {
      if (from !== "a" || to !== "b") return frame;
      withheld.push(frame.slice());
      return undefined;
    });
    await write(a.replica, "unseen", 20);
    await settle(1500);
    network.intercept(undefined);

    // The real a goes down; b restarts on its LMDB directory (a new boot epoch) and gets every captured frame.
    await stop(a);
    await stop(b);
    b = await start("b");
    const frames = [...delivered, ...withheld];
    const { answers, applied } = await replay(b, frames);

    const rejected = rejectedAt(b.gossip, "a");
    // What a sent to b: its requests, and its answers to b's requests (which b's handler never takes).
    const requests = frames.filter((f) => readHeader(f, 1 << 30).header.kind === "request").length;
    console.log(`finding 7, receiver restarted: tried ${frames.length} (${requests} requests), refused ${rejected.stale_epoch ?? 0} stale_epoch + ${rejected.unexpected ?? 0} unexpected + ${rejected.replayed ?? 0} replayed, accepted ${answers.response}, applied ${applied.length}`);
    // How many requests carry the 40 writes depends on batching (b's LMDB commits take real time); both sets must hold some.
    const isRequest = (f: Uint8Array) => readHeader(f, 1 << 30).header.kind === "request";
    expect(delivered.some(isRequest) && withheld.some(isRequest)).toBe(true);
    expect(answers).toEqual({ refusal: requests, empty: frames.length - requests, response: 0 });
    expect(rejected).toEqual({ stale_epoch: requests, unexpected: frames.length - requests });
    expect(applied).toEqual([]);
    for (let i = 0; i < 20; i++) expect(await b.replica.status(`unseen-${i}`)).toEqual({ state: "absent" });
  });

  it("refuses every frame captured before the sender restarted once the sender is back, and both still converge", async () => {
    const { network, start, stop, settle, until } = await twoRegions();
    let a = await start("a");
    const b = await start("b");
    const captured: Uint8Array[] = [];
    network.intercept((from, to, frame) => {
      if (from === "a" && to === "b") captured.push(frame.slice());
      return frame;
    });
    await write(a.replica, "before", 5);
    await until(async () => (await b.replica.status("before-4")).state === "present", "b holds a's writes");
    network.intercept(undefined);
    await stop(a);
    a = await start("a"); // a new boot epoch: its counters start past everything it sent before
    await write(a.replica, "after", 2);
    await until(async () => (await b.replica.status("after-1")).state === "present", "b holds the restarted a's writes");

    const before = rejectedAt(b.gossip, "a");
    const { answers, applied } = await replay(b, captured);
    const rejected = rejectedAt(b.gossip, "a");
    console.log(`finding 7, sender restarted: tried ${captured.length}, refused ${(rejected.replayed ?? 0) - (before.replayed ?? 0)} replayed, accepted ${answers.response}, applied ${applied.length}`);
    expect(answers.response).toBe(0);
    expect(applied).toEqual([]);
    expect((rejected.replayed ?? 0) - (before.replayed ?? 0)).toBe(captured.length);

    // The replays cost the real regions nothing: a's next writes still reach b.
    await a.replica.change("after-0", (doc: Y.Doc) => doc.getText("t").insert(0, "more "));
    await until(async () => JSON.stringify((await b.replica.read("after-0")).value) === JSON.stringify({ t: "more after 0" }), "b holds a's next write");
  });

  it("refuses them after both restarted too, and the regions converge on what the withheld frames carried", async () => {
    const { network, start, stop, settle, until } = await twoRegions();
    let a = await start("a");
    let b = await start("b");
    await settle(300);
    const withheld: Uint8Array[] = [];
    network.intercept((from, to, frame) => {
      if (from !== "a" || to !== "b") return frame;
      withheld.push(frame.slice());
      return undefined;
    });
    await write(a.replica, "late", 3);
    await settle(1000);
    network.intercept(undefined);
    await stop(a);
    await stop(b);
    b = await start("b");
    a = await start("a");
    const { answers, applied } = await replay(b, withheld);
    expect(answers.response).toBe(0);
    expect(applied).toEqual([]);
    expect(await b.replica.status("late-2")).toEqual({ state: "absent" });
    // The genuine region brings them, by push and anti-entropy, in its new boot.
    await until(async () => (await b.replica.status("late-2")).state === "present", "b holds what the withheld frames carried");
    expect((await b.replica.read("late-2")).value).toEqual({ t: "late 2" });
  });
});
