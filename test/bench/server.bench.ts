/**
 * Replication lag between two regions (startRegion: LMDB, HTTP gossip) on
 * loopback at 200 writes/s, from the write call in one region to its durable
 * apply in the other: idle, and while the receiving region serves a
 * 50-connection GET load. Baseline, in the same run: one bare HTTP round
 * trip (fetch to a bare Hono on the same node-server) at the same rate.
 * Goal (issue 11): p99 ≤ 20 ms idle. (Request throughput is in http.bench.ts.)
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import type * as Y from "yjs";
import { parseTopology } from "../../src/gossip/topology.ts";
import { startRegion, type RunningRegion } from "../../src/server/region.ts";
import { initTopologyKeys, regionDataDir } from "../../src/server/topology-keys.ts";
import { freePort } from "../server/processes.ts";
import { tempDir } from "../helpers/replicas.ts";
import { table } from "./harness.ts";
import { load, loadTool } from "./load-generator.ts";

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function lagRow(measure: string, lags: number[], writesPerSecond: number, goal: string): Record<string, string | number> {
  const sorted = [...lags].sort((x, y) => x - y);
  return { measure, samples: sorted.length, "per s": writesPerSecond, "p50 ms": percentile(sorted, 50).toFixed(1), "p99 ms": percentile(sorted, 99).toFixed(1), "max ms": sorted.at(-1)!.toFixed(1), goal };
}

/** Calls `act(i)` `count` times at `perSecond`, each timed from its call to what it resolves with (a time). */
async function paced(count: number, perSecond: number, act: (i: number, calledAt: number) => void): Promise<void> {
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = start + (i * 1000) / perSecond - performance.now();
    if (wait > 0) await sleep(wait);
    act(i, performance.now());
  }
}

/** One bare HTTP round trip (a small POST) at the same rate: the floor under any replication lag. */
async function bareRoundTrips(count: number, perSecond: number): Promise<number[]> {
  const bare = new Hono();
  bare.post("/internal/gossip", async (c) => c.body(new Uint8Array(await c.req.arrayBuffer()).subarray(0, 16)));
  const server = serve({ fetch: bare.fetch, port: 0, hostname: "127.0.0.1" });
  await new Promise((resolve) => server.once("listening", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/internal/gossip`;
  const times: Array<Promise<number>> = [];
  await paced(count, perSecond, (_, at) => times.push(fetch(url, { method: "POST", body: new Uint8Array(200) }).then(async (r) => (await r.arrayBuffer(), performance.now() - at))));
  const lags = await Promise.all(times);
  await new Promise((resolve) => server.close(resolve));
  return lags;
}

/** Writes `writes` map keys in a at `perSecond`; the lag of each until it is durable in b. */
async function lagOnce(a: RunningRegion, b: RunningRegion, doc: string, writes: number, perSecond: number): Promise<number[]> {
  await a.replica.create(doc, "yjs");
  await a.replica.change(doc, (d: Y.Doc) => d.getMap("m").set("start", true));
  while ((await b.replica.status(doc)).state !== "present") await sleep(5);
  // Which write each change in b carries, read from the delta itself: a push
  // or an anti-entropy diff may carry several writes in one change.
  const Yjs = await import("yjs");
  const mirror = new Yjs.Doc();
  Yjs.applyUpdate(mirror, await b.replica.encodeState(doc));
  const applied: number[] = [];
  mirror.getMap("m").observe((event) => {
    const now = performance.now();
    for (const key of event.keysChanged) if (/^k\d+$/.test(key)) applied[Number(key.slice(1))] = now;
  });
  const off = b.replica.subscribe(doc, (change) => Yjs.applyUpdate(mirror, change.delta));
  const called: number[] = [];
  const pending: Promise<unknown>[] = [];
  await paced(writes, perSecond, (i, at) => {
    // Measured from the write call: b may apply the push before a's ack continuation runs.
    called[i] = at;
    pending.push(a.replica.change(doc, (d: Y.Doc) => d.getMap("m").set(`k${i}`, i)));
  });
  await Promise.all(pending);
  while (applied.filter((t) => t !== undefined).length < writes) await sleep(5);
  off();
  return applied.map((t, k) => t - called[k]!);
}

async function replicationLag(perSecond: number, writes: number): Promise<string> {
  const dir = await tempDir("concord-bench-lag-");
  const template = parseTopology({ name: "bench", regions: [
    { id: "a", url: `http://127.0.0.1:${await freePort()}` },
    { id: "b", url: `http://127.0.0.1:${await freePort()}` },
  ] });
  const { topology } = await initTopologyKeys(template, dir.path);
  const [a, b] = await Promise.all(["a", "b"].map((id) => startRegion({ topology, region: id, dataDir: regionDataDir(dir.path, id), auth: "off" })));
  try {
    const rows = [lagRow("bare HTTP round trip (baseline)", await bareRoundTrips(writes, perSecond), perSecond, "-")];
    rows.push(lagRow("lag a → b, idle", await lagOnce(a!, b!, "idle", writes, perSecond), perSecond, "p99 ≤ 20 ms"));
    for (let c = 0; c < 50; c++) await b!.replica.create(`r${c}`, "yjs");
    const seconds = Math.ceil(writes / perSecond) + 2;
    const reads = load(b!.url, { method: "GET", headers: {}, seconds, streams: Array.from({ length: 50 }, (_, c) => [{ path: `/v1/docs/r${c}` }]) });
    const loaded = await lagOnce(a!, b!, "loaded", writes, perSecond);
    const readLoad = await reads;
    rows.push(lagRow(`lag a → b, b serving 50-connection GETs (${Math.round(readLoad.perSecond)} req/s)`, loaded, perSecond, "-"));
    return `${table(rows)}\nwrite call in a → durable in b; load generator: ${await loadTool()}`;
  } finally {
    await Promise.all([a!.stop(), b!.stop()]);
    await dir.remove();
  }
}

export async function run(): Promise<string> {
  return replicationLag(200, Number(process.env.BENCH_WRITES ?? 1000));
}
