/**
 * Issue 11, region start-up: a region (startRegion: LMDB, HTTP) over an
 * existing data directory of N documents, timed from the call to its first
 * served read (a GET of one document, 200). Also printed: when its digest
 * tree is complete (built in the background: rounds wait for it, reads and
 * pushes do not), which is what start-up cost before the tree was built
 * lazily. Baseline in the same run: opening the same data directory alone
 * (store, keyring, epoch; no server, no gossip).
 * Goal (issue 11, P7): ≤ 2 s at 1M documents. Then memory at rest and
 * after 10k random reads (see memoryAfterReads).
 *
 * N = BENCH_STARTUP_DOCS (default 100,000; BENCH_STARTUP_1M=1 for 1,000,000).
 * The data directory is written through the replica, 2,000 creates at a
 * time (group commit makes each batch one store write). BENCH_STARTUP_DIR=path
 * keeps it under path/docs-N and reuses it on the next run (writing 1M documents takes
 * minutes); it is filled only when it does not yet hold N documents.
 */
import { access, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { Topology } from "../../src/gossip/topology.ts";
import { parseTopology } from "../../src/gossip/topology.ts";
import { openDataDir, storePath } from "../../src/node.ts";
import { markCaughtUp } from "../../src/server/catch-up.ts";
import { cleanCloseFile } from "../../src/storage/lmdb-clean-close.ts";
import { startRegion, type RunningRegion } from "../../src/server/region.ts";
import { initTopologyKeys, regionDataDir } from "../../src/server/topology-keys.ts";
import { freePort } from "../server/processes.ts";
import { tempDir } from "../helpers/replicas.ts";
import { mulberry32 } from "./catch-up-workload.ts";
import { table, timed } from "./harness.ts";

const docCount = () => process.env.BENCH_STARTUP_1M ? 1_000_000 : Number(process.env.BENCH_STARTUP_DOCS ?? 100_000);

/** Writes `n` small documents into the data directory, many creates in flight at once. */
async function populate(dataDir: string, n: number): Promise<number> {
  const { replica } = await openDataDir({ dir: dataDir });
  const { ms } = await timed(async () => {
    const chunk = 2000;
    for (let i = 0; i < n; i += chunk) {
      await Promise.all(Array.from({ length: Math.min(chunk, n - i) }, (_, j) => replica.create(`doc-${i + j}`, "yjs", { init: initOf(i + j) })));
    }
  });
  await replica.close();
  await markCaughtUp(dataDir);
  return ms;
}

/** A small document's content (~100 bytes of JSON). */
const initOf = (i: number) => ({ title: `document ${i}, a few words of text`, tags: ["alpha", "beta"], meta: { n: i } });

/** A full garbage collection, without starting node with --expose-gc. */
function collectGarbage(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

/**
 * Memory at rest after start-up, then after `reads` random reads (seeded): the
 * heap the reads left (after a full GC) against the cache's own estimate of
 * the documents it holds. Goal (issue 11): RSS ≤ 512 MB at 1M documents, the
 * estimate within 1.5× of the measured heap.
 */
async function memoryAfterReads(region: RunningRegion, n: number, reads: number) {
  const gc = collectGarbage();
  await region.gossip.treeReady();
  gc();
  const atRest = process.memoryUsage();
  const random = mulberry32(7);
  for (let i = 0; i < reads; i++) await region.replica.read(`doc-${Math.floor(random() * n)}`);
  gc();
  const after = process.memoryUsage();
  const stats = region.replica.stats();
  return { atRest, after, cacheBytes: stats.cacheBytes, cachedDocs: stats.cachedDocs };
}

/**
 * `after`: "crash" removes the store's clean-close record first, so the open walks every page of the
 * data file, as after a crash; "clean stop" keeps the record the previous run's stop left.
 */
async function startOnce(topology: Topology, dataDir: string, probeId: string, after: "crash" | "clean stop", reads = 0) {
  if (after === "crash") await rm(join(storePath(dataDir), cleanCloseFile), { force: true });
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
  const memory = reads > 0 ? await memoryAfterReads(region, documents, reads) : undefined;
  await region.stop();
  return { after, listening, firstRead, treeBuilt, documents, memory };
}

/** A kept directory (BENCH_STARTUP_DIR), or a temporary one removed after the run. */
async function benchDir(n: number): Promise<{ path: string; remove: () => Promise<void> }> {
  const kept = process.env.BENCH_STARTUP_DIR;
  if (!kept) return tempDir("concord-bench-startup-");
  const path = join(kept, `docs-${n}`);
  await mkdir(path, { recursive: true });
  return { path, remove: async () => {} };
}

/** Fills the data directory unless a marker says an earlier run left `n` documents in it. */
async function populateOnce(dir: string, dataDir: string, n: number): Promise<number | undefined> {
  const marker = join(dir, `populated-${n}`);
  if (await access(marker).then(() => true, () => false)) return undefined;
  const ms = await populate(dataDir, n);
  await writeFile(marker, "");
  return ms;
}

export async function run(): Promise<string> {
  const n = docCount();
  const dir = await benchDir(n);
  try {
    const template = parseTopology({ name: "bench", regions: [
      { id: "a", url: `http://127.0.0.1:${await freePort()}` },
      { id: "b", url: `http://127.0.0.1:${await freePort()}` }, // never started: a has a peer, as in production
    ] });
    const { topology } = await initTopologyKeys(template, dir.path);
    const dataDir = regionDataDir(dir.path, "a");
    const populateMs = await populateOnce(dir.path, dataDir, n);
    const bare = await timed(async () => (await openDataDir({ dir: dataDir })).replica.close());
    const reads = Math.min(10_000, n);
    const runs = [await startOnce(topology, dataDir, `doc-${n - 1}`, "crash"), await startOnce(topology, dataDir, "doc-0", "clean stop", reads)];
    const memory = runs[1]!.memory!;
    const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
    const heapGrowth = memory.after.heapUsed - memory.atRest.heapUsed;
    const rows = runs.map((r, i) => ({
      measure: `start-up ${i + 1}, ${n.toLocaleString("en")} documents, after a ${r.after}`,
      "listening ms": Math.round(r.listening),
      "first read ms": Math.round(r.firstRead),
      "× open alone": (r.firstRead / bare.ms).toFixed(1),
      "tree complete ms": Math.round(r.treeBuilt),
      "tree docs": r.documents,
      goal: "first read ≤ 2 s at 1M",
    }));
    const memoryRows = [{
      measure: `${n.toLocaleString("en")} documents at rest (tree built)`, "RSS MB": mb(memory.atRest.rss), "heap MB": mb(memory.atRest.heapUsed),
      "cache estimate MB": "-", "heap / estimate": "-", goal: "RSS ≤ 512 MB at 1M",
    }, {
      measure: `after ${reads.toLocaleString("en")} random reads (${memory.cachedDocs} cached)`, "RSS MB": mb(memory.after.rss), "heap MB": mb(memory.after.heapUsed),
      "cache estimate MB": (memory.cacheBytes / 2 ** 20).toFixed(1), "heap / estimate": (heapGrowth / memory.cacheBytes).toFixed(2), goal: "heap / estimate ≤ 1.5",
    }];
    return [
      table(rows),
      "",
      table(memoryRows),
      "heap / estimate: heap the reads left behind (after a full GC) over the cache's estimate of what it holds; one process, so RSS includes the bench itself",
      "",
      `baseline: opening the data directory alone ${Math.round(bare.ms)} ms; ` +
        (populateMs === undefined ? `data directory reused from ${dir.path}` : `data directory written in ${Math.round(populateMs / 1000)} s (${Math.round(n / (populateMs / 1000))} docs/s)`),
      "'tree complete' is when anti-entropy can run: what start-up cost before the tree was built in the background",
      "after a crash: the store's clean-close record removed, so the open walks every page of data.mdb; after a clean stop: the record skips that walk (src/storage/lmdb-clean-close.ts)",
    ].join("\n");
  } finally {
    await dir.remove();
  }
}
