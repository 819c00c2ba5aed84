/**
 * A sync batch (packFrames/unpackFrames): frames round-trip, and a batch that
 * inflates past the limit is refused before it is inflated whole (a region,
 * or whoever stands in for one, cannot make a client allocate a bomb).
 */
import { deflateSync } from "fflate";
import { describe, expect, it } from "vitest";
import { packFrames, unpackFrames } from "../../src/client/protocol.ts";

describe("sync batches", () => {
  it("round-trips the frames of a batch, large or empty ones included", () => {
    const frames = [new Uint8Array(0), Uint8Array.of(1, 2, 3), new Uint8Array(200_000).map((_, i) => i % 251)];
    expect(unpackFrames(packFrames(frames))).toEqual(frames);
  });

  it("refuses a bomb as too_large without inflating it whole", () => {
    const bomb = deflateSync(new Uint8Array(256 << 20)); // 256 MiB of zeros in about 256 KiB
    const before = process.memoryUsage().arrayBuffers;
    expect(() => unpackFrames(bomb, 1 << 20)).toThrow(expect.objectContaining({ code: "too_large" }));
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 << 20);
  });

  it("refuses bytes that are not a deflate stream, and a cut-short one", () => {
    const packed = packFrames([Uint8Array.of(9, 9, 9)]);
    for (const payload of [Uint8Array.of(0xff, 0xff, 0xff), packed.subarray(0, packed.length - 2)]) {
      expect(() => unpackFrames(payload)).toThrow(expect.objectContaining({ code: "invalid_argument" }));
    }
  });
});
