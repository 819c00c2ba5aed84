import { beforeAll, describe, expect, it } from "vitest";
import { loadSodium } from "../../src/crypto/sodium.ts";
import { openFrame, readHeader, sealFrame } from "../../src/gossip/frame.ts";
import { decompressMessage } from "../../src/gossip/frame-compression.ts";
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse } from "../../src/gossip/messages.ts";
import { derivePairKey, generateRegionKeyPair } from "../../src/gossip/region-keys.ts";
import { createSecureChannel, type SecureChannel } from "../../src/gossip/secure-channel.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import fc from "fast-check";
import { createGossip } from "../../src/gossip/gossip.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { memoryReplica } from "../helpers/replicas.ts";

beforeAll(async () => {
  await loadSodium();
});

const payload = encodeRequest({ type: "heartbeat" });

/**
 * Lets `from` hear `to`'s boot epoch as it does in use, from an answer of `to` to one of its requests
 * (a request to a region whose epoch the sender has not heard is refused as stale_epoch).
 */
function introduce(from: { name: string; channel: SecureChannel }, to: { name: string; channel: SecureChannel }): void {
  const { counter } = from.channel.seal(to.name, "request", payload);
  from.channel.open(to.channel.seal(from.name, "response", payload, counter).frame, { answers: { peer: to.name, counter } });
}

function pair(seed = 1) {
  const random = createSeededRandom(seed);
  const a = generateRegionKeyPair(random);
  const b = generateRegionKeyPair(random);
  const outsider = generateRegionKeyPair(random);
  const east = createSecureChannel({ self: "east", keyPair: a, peers: new Map([["west", b.publicKey]]), epoch: 1, random });
  const west = createSecureChannel({ self: "west", keyPair: b, peers: new Map([["east", a.publicKey]]), epoch: 1, random });
  introduce({ name: "east", channel: east }, { name: "west", channel: west });
  introduce({ name: "west", channel: west }, { name: "east", channel: east });
  return { random, a, b, outsider, east, west };
}

describe("secure channel", () => {
  it("derives the same pair key on both sides and a different one for anyone else", () => {
    const { a, b, outsider } = pair();
    expect(derivePairKey(a, b.publicKey)).toEqual(derivePairKey(b, a.publicKey));
    expect(derivePairKey(outsider, b.publicKey)).not.toEqual(derivePairKey(a, b.publicKey));
  });

  it("opens what the peer sealed, with sender, counter and version authenticated", () => {
    const { east, west } = pair();
    const { frame, counter } = east.seal("west", "request", payload);
    const opened = west.open(frame);
    expect(opened.header).toMatchObject({ sender: "east", receiver: "west", counter, version: 4 });
    expect(opened.epochs).toEqual({ sender: 1, receiver: 1, floor: 1 });
    expect(decodeRequest(opened.payload)).toEqual({ type: "heartbeat" });
  });

  it("rejects a replayed frame and counts it", () => {
    const { east, west } = pair();
    const { frame } = east.seal("west", "request", payload);
    west.open(frame);
    expect(() => west.open(frame)).toThrow(expect.objectContaining({ code: "bad_frame", details: { reason: "replayed" } }));
    expect(west.rejected()).toEqual({ east: { replayed: 1 } });
  });

  it("authenticates a frame with an old counter before calling it a replay: a forgery is bad_mac", () => {
    const { east, west } = pair();
    const { frame } = east.seal("west", "request", payload);
    west.open(frame);
    const forged = frame.slice();
    forged[forged.length - 1]! ^= 1;
    expect(() => west.open(forged)).toThrow(expect.objectContaining({ details: { reason: "bad_mac" } }));
    expect(west.highestSeen("east")).toBe(readHeader(frame, 1 << 20).header.counter);
  });

  it("skips its counters forward past what a peer saw, never backward nor into the top epoch", () => {
    const { east, west } = pair();
    const { counter } = east.seal("west", "request", payload);
    expect(east.skipPast("west", counter - 1n)).toBe(false);
    expect(east.skipPast("west", (1n << 64n) - 1n)).toBe(false);
    expect(east.skipPast("west", counter + 5000n)).toBe(true);
    const next = east.seal("west", "request", payload);
    expect(next.counter).toBe(counter + 5001n);
    expect(west.open(next.frame).header.counter).toBe(next.counter);
  });

  it("accepts frames reordered within the window, rejects ones too old", () => {
    const { east, west } = pair();
    const frames = Array.from({ length: 1100 }, () => east.seal("west", "request", payload).frame);
    west.open(frames[5]!);
    west.open(frames[3]!); // late but fresh
    west.open(frames[1099]!);
    expect(() => west.open(frames[10]!)).toThrow(expect.objectContaining({ details: { reason: "replayed" } }));
  });

  it("rejects a forged frame from an outsider that claims to be a peer", () => {
    const { outsider, b, west, random } = pair();
    const key = derivePairKey(outsider, b.publicKey);
    const forged = sealFrame({ version: 2, kind: "request", sender: "east", receiver: "west", counter: 99n, replyTo: 0n }, payload, key, random);
    expect(() => west.open(forged)).toThrow(expect.objectContaining({ details: { reason: "bad_mac" } }));
    // The forged counter was not burned: the real east can still use it.
    expect(west.rejected()).toEqual({ east: { bad_mac: 1 } });
  });

  it("rejects a frame from a region not in the topology", () => {
    const { random, outsider, b, west } = pair();
    const frame = sealFrame({ version: 2, kind: "request", sender: "mallory", receiver: "west", counter: 1n, replyTo: 0n }, payload, derivePairKey(outsider, b.publicKey), random);
    expect(() => west.open(frame)).toThrow(expect.objectContaining({ code: "unknown_peer" }));
  });

  it("rejects every truncation of a valid frame", () => {
    const { east, west } = pair();
    const { frame } = east.seal("west", "request", payload);
    for (let length = 0; length < frame.length; length++) {
      expect(() => west.open(frame.subarray(0, length))).toThrow(expect.objectContaining({ code: "bad_frame" }));
    }
  });

  it("rejects a frame whose version byte was changed, whether downgraded or raised", () => {
    const { east, west } = pair();
    for (const version of [0, 1, 2, 3, 5, 255]) {
      const frame = east.seal("west", "request", payload).frame;
      frame[2] = version;
      expect(() => west.open(frame)).toThrow(expect.objectContaining({ code: "bad_frame" }));
    }
    // The version byte is authenticated: a changed one is a forgery, refused before any version talk.
    const frame = east.seal("west", "request", payload).frame;
    frame[2] = 0;
    expect(() => west.open(frame)).toThrow(expect.objectContaining({ details: { reason: "bad_mac" } }));
  });

  it("calls a frame unsupported_version only once its MAC passed: an authentic newer peer, never a forger", () => {
    const { random, a, b, east, west } = pair();
    const key = derivePairKey(a, b.publicKey);
    const newer = sealFrame({ version: 5, kind: "request", sender: "east", receiver: "west", counter: 1n << 40n, replyTo: 0n }, payload, key, random);
    expect(() => west.open(newer)).toThrow(expect.objectContaining({ details: { reason: "unsupported_version" } }));
    const forged = sealFrame({ version: 5, kind: "request", sender: "east", receiver: "west", counter: 1n << 40n, replyTo: 0n }, payload, new Uint8Array(32), random);
    expect(() => west.open(forged)).toThrow(expect.objectContaining({ details: { reason: "bad_mac" } }));
    expect(west.rejected()).toEqual({ east: { unsupported_version: 1, bad_mac: 1 } });
    // Neither burned a counter: east's next ordinary frame is accepted.
    expect(west.open(east.seal("west", "request", payload).frame).header.sender).toBe("east");
  });

  it("answers a forged frame of any version or replyTo with nothing, and seals a refusal only to an authentic one", async () => {
    const { random, a, b } = pair();
    const replica = await memoryReplica({ region: "west" });
    try {
      const sent: Uint8Array[] = [];
      const west = createGossip({ replica, transport: { send: async (_p, f) => (sent.push(f), new Uint8Array(0)), serve: () => {} }, clock: createManualClock(0), random, self: "west", keyPair: b, peers: new Map([["east", a.publicKey]]) });
      const key = derivePairKey(a, b.publicKey);
      const header = { kind: "request", sender: "east", receiver: "west", counter: 1n << 40n } as const;
      for (const version of [0, 2, 3, 4, 5, 255]) {
        const forged = sealFrame({ ...header, version, replyTo: 123n }, payload, new Uint8Array(32), random);
        expect((await west.handle(forged)).length).toBe(0);
      }
      const authentic = sealFrame({ ...header, version: 5, replyTo: 123n }, payload, key, random);
      const refusal = await west.handle(authentic);
      expect(refusal.length).toBeGreaterThan(0);
      const { header: answered, headerBytes } = readHeader(refusal, 1 << 20);
      // It answers the authenticated counter, not the replyTo the frame carried.
      expect(answered).toMatchObject({ kind: "refusal", sender: "west", receiver: "east", replyTo: 1n << 40n });
      expect(decodeResponse(decompressMessage(openFrame(refusal, headerBytes, key).subarray(12), 1 << 20))).toMatchObject({ type: "refused", code: "unsupported_version" });
    } finally {
      await replica.close();
    }
  });

  it("rejects any flipped bit", () => {
    const { east, west } = pair();
    fc.assert(
      fc.property(fc.nat(), (n) => {
        const { frame } = east.seal("west", "request", payload);
        const bit = n % (frame.length * 8);
        frame[bit >> 3]! ^= 1 << (bit & 7);
        expect(() => west.open(frame)).toThrow();
      }),
      { numRuns: 300 },
    );
  });

  it("rejects an oversized frame before reading it", () => {
    const { random, a, b } = pair();
    const west = createSecureChannel({ self: "west", keyPair: b, peers: new Map([["east", a.publicKey]]), epoch: 1, random, maxFrameBytes: 1024 });
    expect(() => west.open(new Uint8Array(2048))).toThrow(expect.objectContaining({ details: { reason: "oversized" } }));
  });

  it("orders a restarted region's frames after everything it sent before", () => {
    const { random, a, b } = pair();
    const west = createSecureChannel({ self: "west", keyPair: b, peers: new Map([["east", a.publicKey]]), epoch: 1, random });
    const before = createSecureChannel({ self: "east", keyPair: a, peers: new Map([["west", b.publicKey]]), epoch: 1, random });
    introduce({ name: "east", channel: before }, { name: "west", channel: west });
    for (let i = 0; i < 3000; i++) west.open(before.seal("west", "request", payload).frame);
    const after = createSecureChannel({ self: "east", keyPair: a, peers: new Map([["west", b.publicKey]]), epoch: 2, random });
    introduce({ name: "east", channel: after }, { name: "west", channel: west });
    expect(west.open(after.seal("west", "request", payload).frame).header.sender).toBe("east");
  });

  it("accepts a frame reordered behind more than a window's worth of frames to other peers", () => {
    const random = createSeededRandom(4);
    const [a, b, c] = [generateRegionKeyPair(random), generateRegionKeyPair(random), generateRegionKeyPair(random)];
    const east = createSecureChannel({ self: "east", keyPair: a, peers: new Map([["west", b.publicKey], ["north", c.publicKey]]), epoch: 1, random });
    const west = createSecureChannel({ self: "west", keyPair: b, peers: new Map([["east", a.publicKey]]), epoch: 1, random });
    introduce({ name: "east", channel: east }, { name: "west", channel: west });
    const slow = east.seal("west", "request", payload); // say, a push that takes its time
    for (let i = 0; i < 1100; i++) east.seal("north", "request", payload); // ordinary traffic to another peer
    const fast = east.seal("west", "request", payload); // a heartbeat that overtakes it
    west.open(fast.frame);
    expect(west.open(slow.frame).header.counter).toBe(slow.counter);
    expect(west.rejected()).toEqual({});
    expect(fast.counter - slow.counter).toBe(1n); // because each peer has a sequence of its own
  });

  it("refuses a frame of a kind the caller does not expect, counted, without burning its counter", () => {
    const { east, west } = pair();
    const { frame } = east.seal("west", "response", payload, 7n);
    expect(() => west.open(frame, { expect: ["request"] })).toThrow(expect.objectContaining({ code: "bad_frame", details: { reason: "unexpected" } }));
    expect(west.rejected()).toEqual({ east: { unexpected: 1 } });
    expect(west.open(frame, { expect: ["response", "refusal"] }).header.kind).toBe("response");
  });
});

describe("boot epochs", () => {
  /** East and a west that can be restarted: a new channel with the same keys and a higher epoch. */
  function restartable() {
    const random = createSeededRandom(9);
    const a = generateRegionKeyPair(random);
    const b = generateRegionKeyPair(random);
    const east = createSecureChannel({ self: "east", keyPair: a, peers: new Map([["west", b.publicKey]]), epoch: 7, random });
    const westAt = (epoch: number) => createSecureChannel({ self: "west", keyPair: b, peers: new Map([["east", a.publicKey]]), epoch, random });
    return { random, a, b, east, westAt };
  }

  it("refuses every request made for an earlier boot of the receiver, once its MAC passed, without burning a counter", () => {
    const { east, westAt } = restartable();
    const before = westAt(100);
    introduce({ name: "east", channel: east }, { name: "west", channel: before });
    const captured = Array.from({ length: 50 }, () => east.seal("west", "request", payload).frame);
    for (const frame of captured.slice(0, 25)) before.open(frame); // half delivered, half never
    const after = westAt(101); // west restarted: its window is empty
    for (const frame of captured) {
      expect(() => after.open(frame, { expect: ["request"] })).toThrow(expect.objectContaining({ code: "bad_frame", details: { reason: "stale_epoch" } }));
    }
    expect(after.rejected()).toEqual({ east: { stale_epoch: 50 } });
    expect(after.highestSeen("east")).toBeUndefined();
    // A forgery claiming the right epoch is still a forgery.
    const forged = captured[0]!.slice();
    forged[forged.length - 1]! ^= 1;
    expect(() => after.open(forged)).toThrow(expect.objectContaining({ details: { reason: "bad_mac" } }));
  });

  it("teaches the sender the receiver's epoch through the refusal, after which its requests are accepted", () => {
    const { east, westAt } = restartable();
    const west = westAt(100);
    expect(east.peerEpoch("west")).toBe(0);
    const first = east.seal("west", "request", payload);
    expect(() => west.open(first.frame)).toThrow(expect.objectContaining({ details: { reason: "stale_epoch" } }));
    const refusal = west.seal("east", "refusal", encodeResponse({ type: "refused", code: "stale_epoch", message: "" }), first.counter).frame;
    expect(east.open(refusal, { expect: ["response", "refusal"], answers: { peer: "west", counter: first.counter } }).epochs.sender).toBe(100);
    expect(east.peerEpoch("west")).toBe(100);
    const second = east.seal("west", "request", payload);
    expect(west.open(second.frame).epochs).toEqual({ sender: 7, receiver: 100, floor: 7 });
    // West learned east's epoch from the request: its own requests need no refusal first.
    expect(west.peerEpoch("east")).toBe(7);
    expect(east.open(west.seal("east", "request", payload).frame).header.sender).toBe("west");
  });

  it("takes an answer only to the request it waits for, from the peer it asked, counted otherwise", () => {
    const { east, westAt } = restartable();
    const west = westAt(100);
    const { counter } = east.seal("west", "request", payload);
    const other = west.seal("east", "response", payload, counter + 1n).frame;
    expect(() => east.open(other, { answers: { peer: "west", counter } })).toThrow(expect.objectContaining({ details: { reason: "unexpected" } }));
    expect(east.rejected()).toEqual({ west: { unexpected: 1 } });
    // Not burned, and it taught nothing: it opens as the answer to the request it does answer.
    expect(east.peerEpoch("west")).toBe(0);
    expect(east.open(other, { answers: { peer: "west", counter: counter + 1n } }).header.replyTo).toBe(counter + 1n);
  });

  it("refuses an authentic frame whose body is too short to hold the epochs", () => {
    const { random, a, b, westAt } = restartable();
    const west = westAt(100);
    const short = sealFrame({ version: 2, kind: "request", sender: "east", receiver: "west", counter: 7n << 32n, replyTo: 0n }, new Uint8Array(5), derivePairKey(a, b.publicKey), random);
    expect(() => west.open(short)).toThrow(expect.objectContaining({ details: { reason: "truncated" } }));
  });
});

describe("messages", () => {
  it("sends a local 'failed' push status as 'rejected', so protocol-1 peers on older code decode every reply", () => {
    const bytes = encodeResponse({ type: "pushAck", statuses: ["persisted", "failed", "buffered", "rejected"] });
    expect(decodeResponse(bytes)).toEqual({ type: "pushAck", statuses: ["persisted", "rejected", "buffered", "rejected"] });
    // Older code knows statuses 0..2 only: type, count, then one varint each.
    expect([...bytes.subarray(2)].every((status) => status <= 2)).toBe(true);
  });

  it("decodes hostile payloads to bad_frame, never anything else", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        for (const decode of [decodeRequest, decodeResponse]) {
          try {
            decode(bytes);
          } catch (error) {
            expect((error as { code?: string }).code).toBe("bad_frame");
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("reads the clear header of a frame without the key", () => {
    const { east } = pair();
    const { frame } = east.seal("west", "request", payload);
    const { header, headerBytes } = readHeader(frame, 1 << 20);
    expect(header.sender).toBe("east");
    expect(() => openFrame(frame, headerBytes, new Uint8Array(32))).toThrow(expect.objectContaining({ details: { reason: "bad_mac" } }));
  });
});
