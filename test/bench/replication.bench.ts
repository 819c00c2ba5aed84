/**
 * Issue 3's benchmark: deltas per second replicated from one region to two
 * peers over the in-memory transport (sealing, framing and persistence
 * included), and the cost of an anti-entropy round against a naive exchange
 * of every document's full version.
 */
import type * as Y from "yjs";
import { keyedHash } from "../../src/crypto/keyed-hash.ts";
import { answerTree, runRound } from "../../src/gossip/anti-entropy.ts";
import { createDigestTree, type DigestTree } from "../../src/gossip/digest-tree.ts";
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse, type Request, type Response } from "../../src/gossip/messages.ts";
import type { Replica } from "../../src/replica/replica.ts";
import { createCluster, flush } from "../helpers/cluster.ts";
import { opsPerSec, table, timed } from "./harness.ts";

async function replicationThroughput(writes: number): Promise<Record<string, string | number>> {
  const cluster = await createCluster({ gossip: { antiEntropyIntervalMs: 3_600_000 } });
  const east = cluster.get("us-east").replica;
  await east.create("bench", "yjs");
  await cluster.settle(50);
  const writers = 16;
  const { ms } = await timed(async () => {
    await Promise.all(Array.from({ length: writers }, async (_, w) => {
      for (let i = 0; i < writes / writers; i++) await east.change("bench", (d: Y.Doc) => d.getText(`w${w}`).insert(i, "x"));
    }));
    const target = (await east.read("bench")).version;
    for (;;) {
      const versions = await Promise.all(["eu-west", "ap-southeast"].map(async (n) => (await cluster.get(n).replica.read("bench")).version));
      if (versions.every((v) => v === target)) break;
      await flush();
    }
  });
  await cluster.stop();
  return { measure: "deltas replicated to 2 peers", count: writes, "per second": opsPerSec(writes, ms), ms: Math.round(ms) };
}

const versionOf = (id: string, v: number) => keyedHash(null, `${id}@${v}`, 16);

async function roundCost(mine: DigestTree, theirs: DigestTree) {
  let bytes = 0;
  const replica = { status: async () => ({ state: "absent" }), scrub: async () => 0, damagedDocs: () => [] } as unknown as Replica;
  const { ms } = await timed(() => runRound({
    replica, tree: mine, applyFromPeer: async () => undefined,
    request: async (request: Request): Promise<Response> => {
      const wire = encodeRequest(request);
      const decoded = decodeRequest(wire);
      const response: Response = decoded.type === "tree"
        ? { type: "treeAnswer", answers: answerTree(theirs, decoded.nodes) }
        : { type: "syncAnswer", docs: [] };
      const answer = encodeResponse(response);
      bytes += wire.length + answer.length;
      return decodeResponse(answer);
    },
  }));
  return { bytes, ms };
}

/** Every document's id and full version (a 24-byte Yjs state vector + delete set is typical), both ways. */
function naiveCost(n: number, differing: number) {
  const start = performance.now();
  const docs = Array.from({ length: n }, (_, i) => ({ id: `doc-${i}`, state: "present" as const, kind: "yjs" as const, version: new Uint8Array(24).fill(i < differing ? 2 : 1) }));
  const wire = encodeRequest({ type: "sync", docs });
  decodeRequest(wire);
  return { bytes: wire.length * 2, ms: performance.now() - start };
}

export async function run(): Promise<string> {
  const throughput = await replicationThroughput(Number(process.env.BENCH_REPLICATED ?? 4000));
  const rows: Array<Record<string, string | number>> = [];
  for (const n of [1_000, 10_000, 100_000]) {
    for (const fraction of [0, 0.01]) {
      const differing = Math.round(n * fraction);
      const a = createDigestTree();
      const b = createDigestTree();
      for (let i = 0; i < n; i++) {
        a.set(`doc-${i}`, versionOf(`doc-${i}`, 1));
        b.set(`doc-${i}`, versionOf(`doc-${i}`, i < differing ? 2 : 1));
      }
      const tree = await roundCost(a, b);
      const naive = naiveCost(n, differing);
      rows.push({
        docs: n, differing,
        "tree bytes": tree.bytes, "tree ms": tree.ms.toFixed(1),
        "naive bytes": naive.bytes, "naive ms": naive.ms.toFixed(1),
        "bytes saved ×": (naive.bytes / tree.bytes).toFixed(0),
      });
    }
  }
  return `${table([throughput])}\n\nAnti-entropy digest phase vs a naive exchange of every document's version\n${table(rows)}`;
}
