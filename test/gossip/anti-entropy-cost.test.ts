import { beforeAll, describe, expect, it } from "vitest";
import { keyedHash } from "../../src/crypto/keyed-hash.ts";
import { loadSodium } from "../../src/crypto/sodium.ts";
import { answerTree, runRound } from "../../src/gossip/anti-entropy.ts";
import { createDigestTree, type DigestTree } from "../../src/gossip/digest-tree.ts";
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse, type Request, type Response } from "../../src/gossip/messages.ts";
import type { Replica } from "../../src/replica/replica.ts";

beforeAll(async () => {
  await loadSodium();
});

const version = (id: string, v: number) => keyedHash(null, `${id}@${v}`, 16);

function trees(n: number, differing: number) {
  const a = createDigestTree();
  const b = createDigestTree();
  for (let i = 0; i < n; i++) {
    a.set(`doc-${i}`, version(`doc-${i}`, 1));
    b.set(`doc-${i}`, version(`doc-${i}`, i < differing ? 2 : 1));
  }
  return { a, b };
}

/** Runs the digest phase of a round between two trees through the real codec; counts payload bytes. */
async function digestCost(mine: DigestTree, theirs: DigestTree) {
  let bytes = 0;
  let roundTrips = 0;
  const synced: string[] = [];
  // Documents are only looked up for the sync phase; here every one reads as absent.
  const replica = { status: async () => ({ state: "absent" }), damagedDocs: () => [], scrub: async () => {} } as unknown as Replica;
  await runRound({
    replica,
    tree: mine,
    applyFromPeer: async () => undefined,
    request: async (request: Request): Promise<Response> => {
      const wire = encodeRequest(request);
      const decoded = decodeRequest(wire);
      if (decoded.type === "sync") {
        synced.push(...decoded.docs.map((d) => d.id));
        return { type: "syncAnswer", docs: [] };
      }
      if (decoded.type !== "tree") throw new Error("unexpected request");
      roundTrips++;
      const answer = encodeResponse({ type: "treeAnswer", answers: answerTree(theirs, decoded.nodes) });
      bytes += wire.length + answer.length;
      return decodeResponse(answer);
    },
  });
  return { bytes, roundTrips, synced };
}

describe("anti-entropy cost", () => {
  it("settles 10,000 equal documents in one round trip with under 256 bytes of payload", async () => {
    const { a, b } = trees(10_000, 0);
    const cost = await digestCost(a, b);
    expect(cost.roundTrips).toBe(1);
    expect(cost.bytes).toBeLessThan(256);
    expect(cost.synced).toEqual([]);
  });

  it("finds exactly the differing documents", async () => {
    const { a, b } = trees(2_000, 7);
    b.set("only-there", version("x", 1));
    const cost = await digestCost(a, b);
    expect(cost.synced.sort()).toEqual(["doc-0", "doc-1", "doc-2", "doc-3", "doc-4", "doc-5", "doc-6", "only-there"]);
  });

  it("grows with the number of differing documents, not with the number of documents", async () => {
    const small = await digestCost(...Object.values(trees(1_000, 5)) as [DigestTree, DigestTree]);
    const large = await digestCost(...Object.values(trees(50_000, 5)) as [DigestTree, DigestTree]);
    const moreDiffs = await digestCost(...Object.values(trees(50_000, 50)) as [DigestTree, DigestTree]);
    // 50× the documents: the path to each difference is a level or two deeper, no more.
    expect(large.bytes).toBeLessThan(small.bytes * 3);
    // 10× the differences: roughly 10× the bytes (paths share their upper levels).
    expect(moreDiffs.bytes).toBeGreaterThan(large.bytes * 4);
    expect(moreDiffs.bytes).toBeLessThan(large.bytes * 12);
  });

  it("keeps equal roots whatever order the writes arrived in", () => {
    const a = createDigestTree();
    const b = createDigestTree();
    const ids = Array.from({ length: 300 }, (_, i) => `d${i}`);
    for (const id of ids) a.set(id, version(id, 1));
    for (const id of [...ids].reverse()) {
      b.set(id, version(id, 0));
      b.set(id, version(id, 1));
    }
    b.set("gone", version("gone", 1));
    b.set("gone", undefined);
    expect(a.node("")).toEqual(b.node(""));
  });
});
