/**
 * Issue 11, region start-up: a region (startRegion: LMDB, HTTP) over an
 * existing data directory of N documents, timed from the call to its first
 * served read (a GET of one document, 200). Also printed: when its digest
 * tree is complete (built in the background: rounds wait for it, reads and
 * pushes do not), which is what start-up cost before the tree was built
 * lazily. Baseline in the same run: opening the same data directory alone
 * (store, keyring, epoch; no server, no gossip).
 * Goal (issue 11, P7): ≤ 2 s at 1M documents.
 *
 * N = BENCH_STARTUP_DOCS (default 100,000; BENCH_STARTUP_1M=1 for 1,000,000).
 * The data directory is written through the replica, 2,000 creates at a
 * time (group commit makes each batch one store write).
 */
import type { Topology } from "../../src/gossip/topology.ts";
import { parseTopology } from "../../src/gossip/topology.ts";
import { openDataDir } from "../../src/node.ts";
import { markCaughtUp } from "../../src/server/catch-up.ts";
import { startRegion } from "../../src/server/region.ts";
import { initTopologyKeys, regionDataDir } from "../../src/server/topology-keys.ts";
import { freePort } from "../server/processes.ts";
import { tempDir } from "../helpers/replicas.ts";
import { table, timed } from "./harness.ts";

const docCount = () => process.env.BENCH_STARTUP_1M ? 1_000_000 : Number(process.env.BENCH_STARTUP_DOCS ?? 100_000);

/** Writes `n` small documents into the data directory, many creates in flight at once. */
async function populate(dataDir: string, n: number): Promise<number> {
  const { replica } = await openDataDir({ dir: dataDir });
  const { ms } = await timed(async () => {
    const chunk = 2000;
    for (let i = 0; i < n; i += chunk) {
      await Promise.all(Array.from({ length: Math.min(chunk, n - i) }, (_, j) => replica.create(`doc-${i + j}`, "yjs")));
    }
  });
  await replica.close();
  await markCaughtUp(dataDir);
  return ms;
}

async function startOnce(topology: Topology, dataDir: string, probeId: string) {
  const start = performance.now();
  const region = await startRegion({ topology, region: "a", dataDir, auth: "off" });
  const listening = performance.now() - start;
  const response = await fetch(`${region.url}/v1/docs/${probeId}`);
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`the first read answered ${response.status}`);
  const firstRead = performance.now() - start;
  await region.gossip.treeReady();
  const treeBuilt = performance.now() - start;
  const documents = region.gossip.tree.size;
  await region.stop();
  return { listening, firstRead, treeBuilt, documents };
}

export async function run(): Promise<string> {
  const n = docCount();
  const dir = await tempDir("concord-bench-startup-");
  try {
    const template = parseTopology({ name: "bench", regions: [
      { id: "a", url: `http://127.0.0.1:${await freePort()}` },
      { id: "b", url: `http://127.0.0.1:${await freePort()}` }, // never started: a has a peer, as in production
    ] });
    const { topology } = await initTopologyKeys(template, dir.path);
    const dataDir = regionDataDir(dir.path, "a");
    const populateMs = await populate(dataDir, n);
    const bare = await timed(async () => (await openDataDir({ dir: dataDir })).replica.close());
    const runs = [await startOnce(topology, dataDir, `doc-${n - 1}`), await startOnce(topology, dataDir, "doc-0")];
    const rows = runs.map((r, i) => ({
      measure: `start-up ${i + 1}, ${n.toLocaleString("en")} documents`,
      "listening ms": Math.round(r.listening),
      "first read ms": Math.round(r.firstRead),
      "× open alone": (r.firstRead / bare.ms).toFixed(1),
      "tree complete ms": Math.round(r.treeBuilt),
      "tree docs": r.documents,
      goal: "first read ≤ 2 s at 1M",
    }));
    return [
      table(rows),
      `baseline: opening the data directory alone ${Math.round(bare.ms)} ms; data directory written in ${Math.round(populateMs / 1000)} s (${Math.round(n / (populateMs / 1000))} docs/s)`,
      "'tree complete' is when anti-entropy can run: what start-up cost before the tree was built in the background",
    ].join("\n");
  } finally {
    await dir.remove();
  }
}
