/**
 * Issue 11, catch-up: a fresh region B (empty data directory, its keys only)
 * catching up on region A, which holds the peers' workload (catch-up-workload.ts:
 * 1,000 documents × 50 edits by default), timed from B's start until B holds
 * every document at A's version; then B's content is checked against the
 * workload's. Next to it, in the same run and process, the same workload on a
 * stock y-websocket server (@y/websocket-server) and a fresh y-websocket
 * client per document, timed until every client is synced and holds the
 * expected content.
 *
 * Bytes: everything that reached B (A's frames to B and A's answers to B's
 * requests; HTTP headers not counted) / everything the y-websocket server
 * sent its clients (WebSocket payloads). Reference: the workload's total
 * Y.encodeStateAsUpdate size. CPU and peak RSS are the process's (both sides
 * of each setup run in it), over the catch-up only.
 * Goal: ≤ 0.5× y-websocket's time and ≤ 0.5× its bytes.
 *
 * BENCH_CATCHUP_DOCS (default 1000), BENCH_CATCHUP_EDITS (50), BENCH_CATCHUP_SEED (1).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { setupWSConnection } from "@y/websocket-server/utils";
import { WebSocket, WebSocketServer } from "ws";
import { WebsocketProvider } from "y-websocket";
import * as Y from "yjs";
import { parseTopology } from "../../src/gossip/topology.ts";
import { markCaughtUp } from "../../src/server/catch-up.ts";
import type { GossipOptions } from "../../src/gossip/index.ts";
import { startRegion, type RunningRegion } from "../../src/server/region.ts";
import { initTopologyKeys, regionDataDir } from "../../src/server/topology-keys.ts";
import { freePort } from "../server/processes.ts";
import { tempDir } from "../helpers/replicas.ts";
import { catchUpWorkload, type CatchUpDoc } from "./catch-up-workload.ts";
import { table } from "./harness.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Measured {
  ms: number;
  bytes: number;
  cpuMs: number;
  peakRssMb: number;
}

/** Runs `until` (which resolves when caught up) and measures time, CPU and peak RSS meanwhile. */
async function measure(until: () => Promise<number>): Promise<Measured> {
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  try {
    const bytes = await until();
    const ms = performance.now() - start;
    const cpu = process.cpuUsage(cpu0);
    return { ms, bytes, cpuMs: (cpu.user + cpu.system) / 1000, peakRssMb: Math.max(peak, process.memoryUsage().rss) / 2 ** 20 };
  } finally {
    clearInterval(sampler);
  }
}

const rootOf = (region: RunningRegion) => Buffer.from(region.gossip.tree.node("").hash).toString("hex");

function checkContent(id: string, value: unknown, expected: CatchUpDoc["expected"]): void {
  const got = value as { text?: unknown; map?: unknown };
  if (got.text !== expected.text || JSON.stringify(got.map) !== JSON.stringify(sortKeys(expected.map))) {
    throw new Error(`${id}: caught up with the wrong content`);
  }
}

const sortKeys = (map: Record<string, number>) => Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : 1)));

async function concord(work: CatchUpDoc[], gossip: GossipOptions = {}): Promise<Measured & { sentTwice: number; sentByA: number }> {
  const dir = await tempDir("concord-bench-catchup-");
  const template = parseTopology({ name: "bench", regions: [
    { id: "a", url: `http://127.0.0.1:${await freePort()}` },
    { id: "b", url: `http://127.0.0.1:${await freePort()}` },
  ] });
  const { topology } = await initTopologyKeys(template, dir.path);
  const dataDir = (id: string) => regionDataDir(dir.path, id);
  await markCaughtUp(dataDir("a")); // A holds the data: only B is new
  const a = await startRegion({ topology, region: "a", dataDir: dataDir("a"), auth: "off", gossip });
  let b: RunningRegion | undefined;
  try {
    for (let i = 0; i < work.length; i += 100) {
      await Promise.all(work.slice(i, i + 100).map(async (doc) => {
        await a.replica.create(doc.id, "yjs");
        for (const update of doc.updates) await a.replica.update(doc.id, update);
      }));
    }
    await a.gossip.treeReady();
    const target = rootOf(a);
    let sentToB = 0;
    const result = await measure(async () => {
      b = await startRegion({ topology, region: "b", dataDir: dataDir("b"), auth: "off", gossip });
      while (b.gossip.tree.size < work.length || rootOf(b) !== target) await sleep(5);
      sentToB = (a.gossip.stats().peers as Record<string, { bytesSent: number }>).b!.bytesSent;
      const answersToB = (b.gossip.stats().peers as Record<string, { bytesReceived: number }>).a!.bytesReceived;
      return sentToB + answersToB;
    });
    for (const doc of work) checkContent(doc.id, (await b!.replica.read(doc.id)).value, doc.expected);
    const repaired = (b!.gossip.stats().peers as Record<string, { docsRepaired: number }>).a!.docsRepaired;
    return { ...result, sentTwice: Math.max(0, repaired - work.length), sentByA: sentToB };
  } finally {
    await Promise.all([a.stop(), (b as RunningRegion | undefined)?.stop()]);
    await dir.remove();
  }
}

async function yWebsocket(work: CatchUpDoc[]): Promise<Measured> {
  const server = createServer();
  const wss = new WebSocketServer({ server });
  let bytes = 0;
  wss.on("connection", (conn, req) => {
    const send = conn.send.bind(conn) as (data: Uint8Array, ...rest: unknown[]) => void;
    (conn as unknown as { send: typeof send }).send = (data, ...rest) => {
      bytes += data.byteLength;
      send(data, ...rest);
    };
    setupWSConnection(conn, req);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // The server's documents, loaded the way a writer would have left them (connections made and gone).
  const { docs, getYDoc } = await import("@y/websocket-server/utils");
  for (const doc of work) for (const update of doc.updates) Y.applyUpdate(getYDoc(doc.id), update);
  const providers: WebsocketProvider[] = [];
  try {
    return await measure(async () => {
      await Promise.all(work.map(async (doc) => {
        const ydoc = new Y.Doc();
        const provider = new WebsocketProvider(url, doc.id, ydoc, { WebSocketPolyfill: WebSocket as never, disableBc: true });
        providers.push(provider);
        await new Promise<void>((resolve) => {
          if (provider.synced) return resolve();
          provider.once("sync", () => resolve());
        });
        checkContent(doc.id, { text: ydoc.getText("text").toString(), map: sortKeys(ydoc.getMap<number>("map").toJSON()) }, doc.expected);
      }));
      return bytes;
    });
  } finally {
    for (const provider of providers) {
      provider.destroy();
      provider.awareness.destroy(); // its timer would keep the process alive
      provider.doc.destroy();
    }
    for (const client of wss.clients) client.terminate();
    await new Promise((resolve) => wss.close(resolve));
    await new Promise((resolve) => server.close(resolve));
    // Without persistence the server keeps every document (and its awareness timer) after the last client left.
    for (const doc of docs.values()) doc.destroy();
    docs.clear();
  }
}

export async function run(): Promise<string> {
  const docs = Number(process.env.BENCH_CATCHUP_DOCS ?? 1000);
  const edits = Number(process.env.BENCH_CATCHUP_EDITS ?? 50);
  const seed = Number(process.env.BENCH_CATCHUP_SEED ?? 1);
  const work = catchUpWorkload(seed, docs, edits);
  const reference = work.reduce((sum, doc) => sum + doc.stateBytes, 0);
  const stock = await yWebsocket(work);
  const ours = await concord(work);
  const plain = await concord(work, { compressFrames: false });
  const row = (name: string, m: Measured, goal: string) => ({
    setup: name, "time ms": Math.round(m.ms), "× y-ws time": (m.ms / stock.ms).toFixed(2),
    "bytes": m.bytes, "× y-ws bytes": (m.bytes / stock.bytes).toFixed(2), "× reference": (m.bytes / reference).toFixed(2),
    "CPU ms": Math.round(m.cpuMs), "peak RSS MB": Math.round(m.peakRssMb), goal,
  });
  return [
    table([
      row("y-websocket (baseline)", stock, "-"), row("concord: fresh region B", ours, "≤ 0.5× time, ≤ 0.5× bytes"),
      row("concord, gossip compression off", plain, "-"),
    ]),
    `of concord's bytes, A's own requests to B (pushes, its rounds): ${ours.sentByA} with compression, ${plain.sentByA} without`,
    `workload: seed ${seed}, ${docs} documents × ${edits} edits; reference (Σ Y.encodeStateAsUpdate): ${reference} bytes`,
    `concord documents repaired at B beyond one per document: ${ours.sentTwice}`,
    "CPU and RSS are the whole process's (both sides of each setup run in it); the machine may be loaded: read the ratios",
  ].join("\n");
}
