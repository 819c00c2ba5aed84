import { beforeAll, describe, expect, it } from "vitest";
import * as Y from "yjs";
import { loadSodium } from "../../src/crypto/sodium.ts";
import { compressMessage, decompressMessage } from "../../src/gossip/frame-compression.ts";
import { encodeFrameBody, readHeader, sealFrame } from "../../src/gossip/frame.ts";
import { answerRefused, rejectionOf } from "../../src/gossip/frame-refusal.ts";
import { decodeResponse, encodeRequest, encodeResponse } from "../../src/gossip/messages.ts";
import { derivePairKey, generateRegionKeyPair } from "../../src/gossip/region-keys.ts";
import { createSecureChannel, type SecureChannel } from "../../src/gossip/secure-channel.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { contents, createCluster } from "../helpers/cluster.ts";

beforeAll(async () => {
  await loadSodium();
});

const heartbeat = encodeRequest({ type: "heartbeat" });
/** A push of one document's whole state: text with repeated structure, as catch-up carries. */
function bigPush(chars = 40_000): Uint8Array {
  const doc = new Y.Doc();
  const text = doc.getText("t");
  for (let i = 0; i < chars / 20; i++) text.insert(text.length, `line ${i % 97} of the notes\n`.slice(0, 20));
  return encodeRequest({ type: "push", entries: [{ id: "notes", kind: "yjs", delta: Y.encodeStateAsUpdate(doc) }] });
}

function channels(eastVersions?: number[], westVersions?: number[]) {
  const random = createSeededRandom(7);
  const a = generateRegionKeyPair(random);
  const b = generateRegionKeyPair(random);
  const east = createSecureChannel({ self: "east", keyPair: a, peers: new Map([["west", b.publicKey]]), epoch: 1, random, ...(eastVersions ? { versions: eastVersions } : {}) });
  const west = createSecureChannel({ self: "west", keyPair: b, peers: new Map([["east", a.publicKey]]), epoch: 1, random, ...(westVersions ? { versions: westVersions } : {}) });
  return { random, a, b, east, west };
}

/** One request from `from` answered by `to` the way the gossip route does: a response, or a sealed refusal. */
function roundTrip(from: SecureChannel, fromName: string, to: SecureChannel, toName: string, payload: Uint8Array) {
  const { frame, counter } = from.seal(toName, "request", payload);
  let answer: Uint8Array;
  try {
    to.open(frame);
    answer = to.seal(fromName, "response", encodeResponse({ type: "heartbeatAck" }), counter).frame;
  } catch (error) {
    answer = answerRefused(to, frame, rejectionOf(to, frame, error));
  }
  const opened = from.open(answer, { expect: ["response", "refusal"], answers: { peer: toName, counter } });
  return { sent: frame, version: readHeader(frame, 1 << 30).header.version, response: decodeResponse(opened.payload) };
}

/** Two requests, one each way: each side's first is refused as stale_epoch, and teaches it the other's epoch. */
function meet(x: SecureChannel, xName: string, y: SecureChannel, yName: string): void {
  roundTrip(x, xName, y, yName, heartbeat);
  roundTrip(y, yName, x, xName, heartbeat);
}

describe("gossip protocol 3: compressed messages", () => {
  it("deflates a large, compressible message and leaves a small one as it is", () => {
    const { east, west } = channels();
    meet(east, "east", west, "west");
    const push = bigPush();
    const big = roundTrip(east, "east", west, "west", push);
    expect(big.response).toEqual({ type: "heartbeatAck" });
    expect(big.version).toBe(4);
    expect(big.response).toEqual({ type: "heartbeatAck" });
    expect(big.sent.length).toBeLessThan(push.length / 3);
    const small = east.seal("west", "request", heartbeat).frame;
    expect(small.length).toBeLessThan(heartbeat.length + 150);
  });

  it("opens exactly what was sealed, compressed or not, and sends plain bytes with compression off", () => {
    const push = bigPush();
    for (const message of [push, heartbeat, new Uint8Array(5000)]) {
      expect(decompressMessage(compressMessage(message, true), 1 << 20)).toEqual(message);
      expect(compressMessage(message, false).subarray(1)).toEqual(message);
    }
  });

  it("refuses a message that claims more than the limit, or inflates past or short of its declared length, before allocating it", () => {
    const packed = compressMessage(new Uint8Array(100_000), true);
    const view = new DataView(packed.buffer, packed.byteOffset);
    const lie = (length: number) => {
      const copy = packed.slice();
      new DataView(copy.buffer).setUint32(1, length);
      return copy;
    };
    expect(() => decompressMessage(packed, 50_000)).toThrow(expect.objectContaining({ details: { reason: "oversized" } }));
    expect(() => decompressMessage(lie(view.getUint32(1) - 1), 1 << 20)).toThrow(expect.objectContaining({ code: "bad_frame" }));
    expect(() => decompressMessage(lie(view.getUint32(1) + 1), 1 << 20)).toThrow(expect.objectContaining({ code: "bad_frame" }));
    expect(() => decompressMessage(Uint8Array.of(1, 0, 0, 0, 9, 1, 2, 3), 1 << 20)).toThrow(expect.objectContaining({ code: "bad_frame" }));
    expect(() => decompressMessage(Uint8Array.of(7, 1, 2), 1 << 20)).toThrow(expect.objectContaining({ code: "bad_frame" }));
  });

  it("refuses an authentic frame whose message is a bomb, and takes the peer's next honest frame", () => {
    const { random, a, b, east, west } = channels();
    meet(east, "east", west, "west");
    const key = derivePairKey(a, b.publicKey);
    const bomb = compressMessage(new Uint8Array(64 << 20), true); // 64 MiB of zeros in about 64 KiB
    const header = { version: 3, kind: "request" as const, sender: "east", receiver: "west", counter: (5n << 32n) + 1n, replyTo: 0n };
    const frame = sealFrame(header, encodeFrameBody({ sender: 5, receiver: 1 }, bomb), key, random);
    expect(frame.length).toBeLessThan(1 << 20);
    expect(() => west.open(frame)).toThrow(expect.objectContaining({ details: { reason: "oversized" } }));
    expect(west.rejected()).toMatchObject({ east: { oversized: 1 } });
    expect(roundTrip(east, "east", west, "west", heartbeat).response).toEqual({ type: "heartbeatAck" });
  });
});

describe("gossip protocol versions during a rolling upgrade", () => {
  it("steps down to protocol 2 for a peer that refuses 3, and back up once that peer speaks 3", () => {
    const { random, a, b, east } = channels();
    const oldWest = createSecureChannel({ self: "west", keyPair: b, peers: new Map([["east", a.publicKey]]), epoch: 1, random, versions: [2] });
    meet(oldWest, "west", east, "east");
    // east answered west's protocol-2 request in protocol 2, and now sends it protocol 2 too.
    expect(east.peerVersion("west")).toBe(2);
    const first = roundTrip(east, "east", oldWest, "west", bigPush());
    expect(first.version).toBe(2);
    expect(first.response).toEqual({ type: "heartbeatAck" });

    // west upgrades (a new boot that speaks 3): its first frame moves east up again.
    const newWest = createSecureChannel({ self: "west", keyPair: b, peers: new Map([["east", a.publicKey]]), epoch: 2, random });
    meet(newWest, "west", east, "east");
    roundTrip(newWest, "west", east, "east", heartbeat);
    expect(east.peerVersion("west")).toBe(4);
    // and stays there, though west still answers a protocol-2 request of east's in protocol 2
    expect(roundTrip(east, "east", newWest, "west", heartbeat).version).toBe(4);
    expect(east.peerVersion("west")).toBe(4);
  });

  it("learns from a protocol-2 peer's sealed refusal when it speaks first", () => {
    const { random, a, b, east } = channels();
    const oldWest = createSecureChannel({ self: "west", keyPair: b, peers: new Map([["east", a.publicKey]]), epoch: 1, random, versions: [2] });
    const refused = roundTrip(east, "east", oldWest, "west", heartbeat);
    expect(refused.version).toBe(4);
    expect(refused.response).toMatchObject({ type: "refused", code: "unsupported_version" });
    // The refusal came sealed in protocol 2, which moved east down already; there is nothing older to try.
    expect(east.peerVersion("west")).toBe(2);
    expect(east.stepDown("west")).toBe(false);
    expect(roundTrip(east, "east", oldWest, "west", heartbeat).response).toEqual({ type: "heartbeatAck" });
  });

  it("steps down by itself when a refusal came in a version it cannot tell apart", () => {
    const { east } = channels();
    expect(east.peerVersion("west")).toBe(4);
    expect(east.stepDown("west")).toBe(true);
    expect(east.peerVersion("west")).toBe(3);
  });

  it("replicates and repairs between a region on protocol 2 and regions on protocol 3", async () => {
    const cluster = await createCluster({ gossipFor: (name) => (name === "eu-west" ? { protocolVersions: [2] } : {}) });
    try {
      const east = cluster.get("us-east").replica;
      const west = cluster.get("eu-west").replica;
      await east.create("from-east", "yjs");
      await east.patch("from-east", [{ op: "insertText", path: ["t"], index: 0, text: "x".repeat(5000) }]);
      await west.create("from-west", "automerge");
      await west.patch("from-west", [{ op: "set", path: ["k"], value: "v" }]);
      await cluster.settle(3000);
      const views = [...(await contents(cluster)).values()];
      expect(new Set(views).size).toBe(1);
      expect(views[0]).toContain("from-west");
      expect(views[0]).toContain("x".repeat(5000));
    } finally {
      await cluster.stop();
    }
  });
});
