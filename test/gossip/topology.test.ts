import { describe, expect, it } from "vitest";
import { parseTopology } from "../../src/gossip/topology.ts";

const key = Buffer.alloc(32, 7).toString("base64url");

describe("topology", () => {
  it("parses regions, keys and a symmetric latency matrix without libsodium loaded", () => {
    const t = parseTopology({
      name: "t",
      regions: [{ id: "a", url: "http://127.0.0.1:1/", publicKey: key }, { id: "b", url: "http://127.0.0.1:2", publicKey: "" }],
      latencyMs: { a: { b: 40 } },
    });
    expect(t.region("a").publicKey).toEqual(new Uint8Array(32).fill(7));
    expect(t.region("a").url).toBe("http://127.0.0.1:1");
    expect(t.region("b").publicKey).toBeUndefined();
    expect(t.latencyMs("b", "a")).toBe(40);
  });

  it.each([
    [{ regions: [] }, "non-empty"],
    [{ regions: [{ id: "A B", url: "http://x" }] }, "id"],
    [{ regions: [{ id: "a", url: "ftp://x" }] }, "url"],
    [{ regions: [{ id: "a", url: "http://x", publicKey: "!!" }] }, "base64url"],
    [{ regions: [{ id: "a", url: "http://x", publicKey: "AAAA" }] }, "32 bytes"],
    [{ regions: [{ id: "a", url: "http://x" }, { id: "a", url: "http://y" }] }, "unique"],
    [{ regions: [{ id: "a", url: "http://x" }], latencyMs: { a: { z: 1 } } }, "unknown region"],
  ])("rejects a bad topology with a clear message (%#)", (json, words) => {
    expect(() => parseTopology(json)).toThrow(expect.objectContaining({ code: "invalid_argument", message: expect.stringContaining(words) }));
  });
});
