/**
 * Issue 5's benchmark, loopback only, bounded loops:
 * 1. PATCH throughput and latency (p50, p99) on one region (LMDB, real
 *    socket) with 50 concurrent clients, beside a bare Hono endpoint served
 *    the same way (the framework ceiling). Goal: ≥ 50% of the ceiling.
 * 2. Replication lag between two regions (startRegion, HTTP gossip) at 200
 *    writes/s: from the write call in one region to its durable apply in the
 *    other. Goal: p99 ≤ 50 ms.
 */
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { Hono } from "hono";
import { openReplica } from "../../src/node.ts";
import { parseTopology } from "../../src/gossip/topology.ts";
import { createServer } from "../../src/server/app.ts";
import { startRegion } from "../../src/server/region.ts";
import { initTopologyKeys, regionDataDir } from "../../src/server/topology-keys.ts";
import { createKeyFile, defaultKeyFile } from "../../src/runtime/master-key.ts";
import { freePort } from "../server/processes.ts";
import { tempDir } from "../helpers/replicas.ts";
import { opsPerSec, table } from "./harness.ts";

const connections = 50;
const requestsPerConnection = Number(process.env.BENCH_REQUESTS ?? 100);

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function listen(fetchFn: (r: Request) => Response | Promise<Response>): Promise<{ server: ServerType; url: string }> {
  const server = serve({ fetch: fetchFn, port: 0, hostname: "127.0.0.1" });
  await new Promise((resolve) => server.once("listening", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** 50 clients, each sending its requests one after another; returns throughput and latency percentiles. */
async function load(name: string, request: (client: number, i: number) => Promise<Response>): Promise<Record<string, string | number>> {
  const latencies: number[] = [];
  const start = performance.now();
  await Promise.all(Array.from({ length: connections }, async (_, client) => {
    for (let i = 0; i < requestsPerConnection; i++) {
      const t = performance.now();
      const r = await request(client, i);
      await r.arrayBuffer();
      if (!r.ok) throw new Error(`${name}: HTTP ${r.status}`);
      latencies.push(performance.now() - t);
    }
  }));
  const ms = performance.now() - start;
  latencies.sort((a, b) => a - b);
  return { endpoint: name, requests: latencies.length, "req/s": opsPerSec(latencies.length, ms), "p50 ms": percentile(latencies, 50).toFixed(1), "p99 ms": percentile(latencies, 99).toFixed(1) };
}

async function patchThroughput(): Promise<string> {
  const dir = await tempDir("concord-bench-");
  await createKeyFile(defaultKeyFile(dir.path));
  const replica = await openReplica({ dir: dir.path, region: "bench" });
  const app = createServer(replica);
  const bare = new Hono();
  bare.patch("/v1/docs/:id", async (c) => c.json({ id: c.req.param("id"), ops: ((await c.req.json()) as { ops: unknown[] }).ops.length }));
  const concord = await listen(app.fetch);
  const ceiling = await listen(bare.fetch);
  try {
    for (let c = 0; c < connections; c++) await replica.create(`doc${c}`, "yjs");
    const body = (i: number) => JSON.stringify({ ops: [{ op: "set", path: ["meta", `k${i % 20}`], value: i }] });
    const patch = (url: string) => (client: number, i: number) =>
      fetch(`${url}/v1/docs/doc${client}`, { method: "PATCH", body: body(i), headers: { "content-type": "application/json" } });
    await load("warm-up", patch(ceiling.url));
    await load("warm-up", patch(concord.url));
    const rows = [await load("bare Hono (ceiling)", patch(ceiling.url)), await load("Concord PATCH (LMDB)", patch(concord.url))];
    const ratio = Number(rows[1]!["req/s"]) / Number(rows[0]!["req/s"]);
    return `${table(rows)}\nConcord PATCH / ceiling: ${(ratio * 100).toFixed(0)}% (goal ≥ 50%), ${connections} concurrent clients × ${requestsPerConnection} requests`;
  } finally {
    await Promise.all([concord, ceiling].map(({ server }) => new Promise((resolve) => server.close(resolve))));
    await replica.close();
    await dir.remove();
  }
}

async function replicationLag(writesPerSecond: number, writes: number): Promise<string> {
  const dir = await tempDir("concord-bench-lag-");
  const template = parseTopology({ name: "bench", regions: [
    { id: "a", url: `http://127.0.0.1:${await freePort()}` },
    { id: "b", url: `http://127.0.0.1:${await freePort()}` },
  ] });
  const { topology } = await initTopologyKeys(template, dir.path);
  const [a, b] = await Promise.all(["a", "b"].map((id) => startRegion({ topology, region: id, dataDir: regionDataDir(dir.path, id), auth: "off" })));
  try {
    await a!.replica.create("lag", "yjs");
    await a!.replica.change("lag", (d: import("yjs").Doc) => d.getMap("m").set("start", true));
    while ((await b!.replica.status("lag")).state !== "present") await new Promise((r) => setTimeout(r, 5));
    // Which write each change in b carries, read from the delta itself: a push
    // or an anti-entropy diff may carry several writes in one change.
    const Y = await import("yjs");
    const mirror = new Y.Doc();
    Y.applyUpdate(mirror, await b!.replica.encodeState("lag"));
    const applied: number[] = [];
    mirror.getMap("m").observe((event) => {
      const now = performance.now();
      for (const key of event.keysChanged) if (/^k\d+$/.test(key)) applied[Number(key.slice(1))] = now;
    });
    const off = b!.replica.subscribe("lag", (change) => {
      Y.applyUpdate(mirror, change.delta);
    });
    const acked: number[] = [];
    const start = performance.now();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < writes; i++) {
      const due = start + (i * 1000) / writesPerSecond;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      // Measured from the write call: b may apply the push before a's ack continuation runs.
      acked[i] = performance.now();
      pending.push(a!.replica.change("lag", (d: import("yjs").Doc) => d.getMap("m").set(`k${i}`, i)).then(() => undefined));
    }
    await Promise.all(pending);
    while (applied.filter((t) => t !== undefined).length < writes) await new Promise((r) => setTimeout(r, 5));
    off();
    const lags = applied.map((t, k) => t - acked[k]!).sort((x, y) => x - y);
    return table([{ measure: "replication lag a → b (write call in a → durable in b)", writes, "writes/s": writesPerSecond, "p50 ms": percentile(lags, 50).toFixed(1), "p99 ms": percentile(lags, 99).toFixed(1), "max ms": lags.at(-1)!.toFixed(1) }]) + "\ngoal: p99 ≤ 50 ms";
  } finally {
    await Promise.all([a!.stop(), b!.stop()]);
    await dir.remove();
  }
}

export async function run(): Promise<string> {
  const patch = await patchThroughput();
  return `${patch}\n\n${await replicationLag(200, Number(process.env.BENCH_WRITES ?? 1000))}`;
}
