import { beforeAll, describe, expect, it } from "vitest";
import { loadSodium } from "../../src/crypto/sodium.ts";
import { readHeader } from "../../src/gossip/frame.ts";
import { answerRefused, rejectionOf } from "../../src/gossip/frame-refusal.ts";
import { decodeResponse, encodeRequest, encodeResponse } from "../../src/gossip/messages.ts";
import { generateRegionKeyPair, type RegionKeyPair } from "../../src/gossip/region-keys.ts";
import { createSecureChannel, maxLanesPerSender, type SecureChannel } from "../../src/gossip/secure-channel.ts";
import { createSeededRandom, type Random } from "../../src/runtime/random.ts";

beforeAll(async () => {
  await loadSodium();
});

const heartbeat = encodeRequest({ type: "heartbeat" });

/**
 * Region "multi" as several processes (one key pair, each its own boot epoch drawn from one sequence),
 * and region "peer" of one process.
 */
function regions(epochs: number[], options: { versions?: number[] } = {}) {
  const random = createSeededRandom(7);
  const multiKeys = generateRegionKeyPair(random);
  const peerKeys = generateRegionKeyPair(random);
  const shared = { regionEpoch: Math.max(...epochs), floor: Math.min(...epochs) };
  const processes = epochs.map((epoch) => processOf(multiKeys, peerKeys, epoch, shared, random, options.versions));
  const peer = createSecureChannel({ self: "peer", keyPair: peerKeys, peers: new Map([["multi", multiKeys.publicKey]]), epoch: 500, random });
  return { random, multiKeys, peerKeys, shared, processes, peer };
}

function processOf(keys: RegionKeyPair, peerKeys: RegionKeyPair, epoch: number, shared: { regionEpoch: number; floor: number }, random: Random, versions?: number[]) {
  return createSecureChannel({
    self: "multi", keyPair: keys, peers: new Map([["peer", peerKeys.publicKey]]), epoch, random,
    regionEpoch: () => shared.regionEpoch, laneFloor: () => shared.floor, ...(versions ? { versions } : {}),
  });
}

/** One request of `from` opened by `to`, its answer (or sealed refusal) opened by `from`: the response. */
function roundTrip(from: SecureChannel, fromName: string, to: SecureChannel, toName: string) {
  const { frame, counter } = from.seal(toName, "request", heartbeat);
  let answer: Uint8Array;
  try {
    to.open(frame);
    answer = to.seal(fromName, "response", encodeResponse({ type: "heartbeatAck" }), counter).frame;
  } catch (error) {
    answer = answerRefused(to, frame, rejectionOf(to, frame, error));
  }
  return { frame, response: decodeResponse(from.open(answer, { expect: ["response", "refusal"], answers: { peer: toName, counter } }).payload) };
}

/** Each process learns the peer's epoch, and the peer the region's (the first request of each is refused as stale_epoch). */
function meet(processes: SecureChannel[], peer: SecureChannel) {
  for (const p of processes) roundTrip(p, "multi", peer, "peer");
  roundTrip(peer, "peer", processes[0]!, "multi");
}

describe("sending lanes: one region as several processes", () => {
  it("accepts interleaved frames from every process of the region, and each frame only once", () => {
    const { processes, peer } = regions([10, 11, 12]);
    meet(processes, peer);
    const sent: Uint8Array[] = [];
    for (let i = 0; i < 30; i++) {
      const { frame, response } = roundTrip(processes[i % 3]!, "multi", peer, "peer");
      expect(response).toEqual({ type: "heartbeatAck" });
      sent.push(frame);
    }
    expect(peer.rejected()).toEqual({ multi: { stale_epoch: 3 } });
    for (const frame of sent) expect(() => peer.open(frame)).toThrow(expect.objectContaining({ details: { reason: "replayed" } }));
    expect(peer.rejected().multi?.replayed).toBe(30);
  });

  it("accepts a peer's request on any process, once the peer heard the region's epoch from any of them", () => {
    const { processes, peer } = regions([10, 11, 12]);
    meet(processes, peer);
    // The peer heard the region's epoch, 12 (the highest drawn), from process 1 whose own boot epoch is 10.
    expect(peer.peerEpoch("multi")).toBe(12);
    for (const p of processes) expect(roundTrip(peer, "peer", p, "multi").response).toEqual({ type: "heartbeatAck" });
    // Only meet()'s first request, made before the peer heard any epoch of the region.
    expect(processes.map((p) => p.rejected())).toEqual([{ peer: { stale_epoch: 1 } }, {}, {}]);
  });

  it("refuses on a process a request made for an epoch of the region from before that process booted", () => {
    const { random, multiKeys, peerKeys, shared, processes, peer } = regions([10, 11]);
    meet(processes, peer);
    const { frame } = peer.seal("multi", "request", heartbeat); // names epoch 11
    shared.regionEpoch = 12;
    const late = processOf(multiKeys, peerKeys, 12, shared, random);
    expect(() => late.open(frame)).toThrow(expect.objectContaining({ details: { reason: "stale_epoch" } }));
    // The refusal teaches the peer epoch 12, and the request goes through on the new process too.
    roundTrip(peer, "peer", late, "multi");
    expect(roundTrip(peer, "peer", late, "multi").response).toEqual({ type: "heartbeatAck" });
  });

  it("refuses frames of lanes below the floor the region announces, and tells the highest counter of any lane", () => {
    const { processes, peer, shared } = regions([10, 11]);
    meet(processes, peer);
    const old = processes[0]!.seal("peer", "request", heartbeat).frame;
    // Process 1 (lane 10) is gone; process 2 now tells the peer that 11 is the oldest lane in use.
    shared.floor = 11;
    const { frame: newer } = roundTrip(processes[1]!, "multi", peer, "peer");
    const counterOf = (f: Uint8Array) => readHeader(f, 1 << 20).header.counter;
    let error: unknown;
    try {
      peer.open(old);
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ details: { reason: "replayed" } });
    // The sealed refusal names the highest counter of any lane, past which the old lane's sender can skip.
    const refusal = answerRefused(peer, old, rejectionOf(peer, old, error));
    expect(decodeResponse(processes[0]!.open(refusal, { expect: ["refusal"] }).payload)).toMatchObject({ code: "replayed", highestSeen: counterOf(newer) });
    expect(counterOf(old) >> 32n).toBe(10n);
    expect(counterOf(newer) >> 32n).toBe(11n);
  });

  it("keeps the windows of at most maxLanesPerSender lanes, dropping the least recently used", () => {
    const epochs = Array.from({ length: maxLanesPerSender + 1 }, (_, i) => 100 + i);
    const { processes, peer } = regions(epochs);
    meet(processes, peer);
    const first = processes[0]!.seal("peer", "request", heartbeat).frame;
    peer.open(first);
    // Every other lane sends once more: the first lane is now the least recently used, and dropped.
    for (const p of processes.slice(1)) roundTrip(p, "multi", peer, "peer");
    expect(() => peer.open(first)).not.toThrow();
    // The documented cost of a dropped window: that one frame was accepted again, and now is not.
    expect(() => peer.open(first)).toThrow(expect.objectContaining({ details: { reason: "replayed" } }));
  });

  it("on protocol 3, keeps one window per sender: a second process is refused as replayed (why peers must speak 4 first)", () => {
    const { processes, peer } = regions([10, 11], { versions: [2, 3] });
    meet(processes, peer);
    roundTrip(processes[1]!, "multi", peer, "peer");
    const { response } = roundTrip(processes[0]!, "multi", peer, "peer");
    expect(response).toMatchObject({ type: "refused", code: "replayed" });
  });
});
