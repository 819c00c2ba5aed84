/**
 * Stock clients on Concord regions against the stock y-websocket server
 * (@y/websocket-server, the reference `setupWSConnection`) in the same run:
 * - one edit seen by a provider on another region, p50 / p99 at 10 edits/s,
 *   next to the same two providers on one stock server (goal: ≤ 2× that
 *   plus the configured inter-region latency, here 0: both on loopback);
 * - memory and CPU for idle stock sockets on one region, next to the stock
 *   server holding as many (goal: ≤ its RSS per socket);
 * - a provider's initial sync of a 260k-edit document (the automerge-paper
 *   trace when ../shared has it, else a synthetic one of the same size).
 * For the latency and the initial sync, servers and clients run in this
 * process. For idle sockets, each server runs alone in a fresh child process
 * and the clients in another, so the per-socket figures are the server side
 * alone, for both, and neither server reuses pages the other freed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { cpus, loadavg } from "node:os";
import * as Y from "yjs";
import { WebsocketProvider } from "y-websocket";
import { WebSocket, WebSocketServer } from "ws";
import { setupWSConnection, getYDoc, docs as stockDocs } from "@y/websocket-server/utils";
import { startStockCluster, tokens, type StockCluster } from "../server/stock-regions.ts";
import { loadTrace, table } from "./harness.ts";

const editsPerSecond = 10;
const edits = Number(process.env.STOCK_BENCH_EDITS ?? 100);
// The idle clients run in a child process, so 10,000 server sockets fit this machine's 20,000 descriptors.
const idleCounts = (process.env.STOCK_BENCH_IDLE ?? "1000,10000").split(",").map(Number).filter((n) => n > 0);
// STOCK_BENCH_ONLY=idle measures the idle sockets alone (no latency, no initial sync): quicker when working on memory.
const idleOnly = process.env.STOCK_BENCH_ONLY === "idle";

interface Endpoint {
  /** The y-websocket server URL (providers append /room). */
  url(region: "a" | "b"): string;
  params: Record<string, string>;
  preload(doc: string, update: Uint8Array): Promise<void>;
  stop(): Promise<void>;
}

async function stockServer(): Promise<Endpoint> {
  const server: Server = createServer();
  const wss = new WebSocketServer({ noServer: true });
  server.on("upgrade", (request, socket, head) => wss.handleUpgrade(request, socket, head, (ws) => setupWSConnection(ws, request)));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: () => url,
    params: {},
    async preload(doc, update) {
      Y.applyUpdate(getYDoc(doc), update);
    },
    async stop() {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // Without persistence the reference server keeps its documents, and their awareness check timers, forever.
      for (const doc of (stockDocs as Map<string, Y.Doc>).values()) doc.destroy();
    },
  };
}

async function concord(): Promise<Endpoint & { cluster: StockCluster }> {
  const cluster = await startStockCluster(["a", "b"], { sockets: { upgrades: { maxSockets: 20_000 } } });
  return {
    cluster,
    url: (region) => cluster.wsUrl(region, "/v1/yjs"),
    params: { token: tokens.writer },
    async preload(doc, update) {
      const replica = cluster.regions.get("a")!.replica;
      await replica.create(doc, "yjs");
      await replica.update(doc, update);
    },
    stop: () => cluster.stop(),
  };
}

const provider = (e: Endpoint, region: "a" | "b", doc: string, ydoc = new Y.Doc()) =>
  new WebsocketProvider(e.url(region), doc, ydoc, { WebSocketPolyfill: WebSocket as never, params: e.params, disableBc: true });

const synced = (p: WebsocketProvider) => new Promise<void>((resolve) => (p.synced ? resolve() : p.once("sync", () => resolve())));

const percentile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

/** Edits on region a at 10/s, each seen on `readerRegion`: latencies in ms. */
async function editLatency(e: Endpoint, doc: string, readerRegion: "a" | "b" = "b"): Promise<number[]> {
  const writer = provider(e, "a", doc);
  const reader = provider(e, readerRegion, doc);
  await Promise.all([synced(writer), synced(reader)]);
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  let done: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  reader.doc.getArray<number>("edits").observe((event) => {
    const now = performance.now();
    for (const item of event.changes.added) for (const i of item.content.getContent() as number[]) latencies.push(now - sentAt.get(i)!);
    if (latencies.length >= edits) done();
  });
  for (let i = 0; i < edits; i++) {
    sentAt.set(i, performance.now());
    writer.doc.getArray<number>("edits").push([i]);
    await new Promise((resolve) => setTimeout(resolve, 1000 / editsPerSecond));
  }
  await all;
  for (const p of [writer, reader]) {
    p.destroy();
    p.doc.destroy(); // its Awareness runs a timer until the document goes
  }
  return latencies.sort((x, y) => x - y);
}

/** Starts a bench helper script under tsx; `gc` adds --expose-gc. */
const helper = (script: string, args: string[], gc = false) =>
  spawn(process.execPath, [...(gc ? ["--expose-gc"] : []), "--import", "tsx", fileURLToPath(new URL(script, import.meta.url)), ...args], {
    stdio: ["pipe", "pipe", "inherit"],
  });

/** Lines a child prints, one at a time. */
function lineReader(child: ChildProcess): () => Promise<string> {
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return async () => {
    const next = await lines.next();
    if (next.done) throw new Error("a bench helper exited early");
    return next.value;
  };
}

interface Usage { rss: number; heapUsed: number; cpuMicros: number; cpuMicrosBeforeGc: number }

/**
 * A server's RSS and heap growth per idle socket, and its CPU over 5 s of idling. The server runs alone in a child
 * process (idle-socket-server.ts) and the clients in another (idle-socket-clients.ts): the figures are the server
 * side alone, and each server starts from a fresh heap, whichever is measured first.
 */
async function idleSockets(kind: "stock" | "concord", count: number): Promise<{ rssPerSocket: number; heapPerSocket: number; cpuMsPerSec: number }> {
  const server = helper("./idle-socket-server.ts", [kind], true);
  const serverLine = lineReader(server);
  const measure = async (): Promise<Usage> => {
    server.stdin!.write("measure\n");
    return JSON.parse(await serverLine()) as Usage;
  };
  const clients: ChildProcess[] = [];
  try {
    const [, url = "", query = ""] = (await serverLine()).split(" ");
    const before = await measure();
    const child = helper("./idle-socket-clients.ts", [url, String(count), query]);
    clients.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on("data", (chunk: Buffer) => chunk.toString().includes("ready") && resolve());
      child.once("exit", (code) => reject(new Error(`idle-socket-clients exited with ${code} before its sockets were up`)));
    });
    const after = await measure();
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const later = await measure();
    return {
      rssPerSocket: Math.round((after.rss - before.rss) / count),
      heapPerSocket: Math.round((after.heapUsed - before.heapUsed) / count),
      cpuMsPerSec: Math.round((later.cpuMicrosBeforeGc - after.cpuMicros) / 1000 / 5),
    };
  } finally {
    for (const child of [...clients, server]) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.stdin!.end();
      await exited;
    }
  }
}

function bigDocument(): { update: Uint8Array; edits: number; source: string } {
  const trace = loadTrace("automerge-paper");
  const doc = new Y.Doc();
  const text = doc.getText("t");
  let count = 0;
  if (trace) {
    for (const txn of trace.txns) {
      for (const [pos, del, ins] of txn.patches) {
        if (del > 0) text.delete(pos, del);
        if (ins) text.insert(pos, ins);
        count++;
      }
    }
    return { update: Y.encodeStateAsUpdate(doc), edits: count, source: "automerge-paper trace" };
  }
  let seed = 1;
  const rand = (n: number) => ((seed = (seed * 48271) % 2147483647) % Math.max(1, n));
  for (; count < 260_000; count++) text.insert(rand(text.length + 1), "x");
  return { update: Y.encodeStateAsUpdate(doc), edits: count, source: "synthetic (no ../shared trace)" };
}

async function initialSync(e: Endpoint, doc: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    const p = provider(e, "a", doc);
    await synced(p);
    times.push(performance.now() - start);
    p.destroy();
    p.doc.destroy();
  }
  return times.sort((x, y) => x - y)[1]!;
}

const progress = (what: string) => console.error(`[stock sockets] ${new Date().toISOString()} ${what}`);

export async function run(): Promise<string> {
  const out: string[] = [`load average ${loadavg().map((l) => l.toFixed(1)).join(" ")} on ${cpus().length} cores; idle sockets: each server and its clients in child processes, the rest in this one; inter-region latency configured: 0 (loopback)`];
  const stock = await stockServer();
  const regions = await concord();
  try {
    if (!idleOnly) out.push(await latencies(stock, regions));
    out.push(await idleTable());
    if (!idleOnly) out.push(await initialSyncs(stock, regions));
  } finally {
    await stock.stop();
    await regions.stop();
  }
  return out.join("\n");
}

async function latencies(stock: Endpoint, regions: Endpoint): Promise<string> {
  const out: string[] = [];
  progress("edit latency");
  const base = await editLatency(stock, "latency");
  const ours = await editLatency(regions, "latency");
  // Both on one region: the socket layer and one durable write, without replication.
  const oneRegion = await editLatency(regions, "latency-local", "a");
  const row = (name: string, l: number[]) => ({ setup: name, edits: l.length, "p50 ms": percentile(l, 0.5).toFixed(1), "p99 ms": percentile(l, 0.99).toFixed(1) });
  out.push(`\none edit seen by another client at ${editsPerSecond} edits/s (goal: ≤ 2× the single server)`);
  out.push(table([row("stock y-websocket server, both clients on it", base), row("Concord, both clients on region a", oneRegion), row("Concord, writer on a, reader on b", ours)]));
  out.push(`ratio p50 ${(percentile(ours, 0.5) / percentile(base, 0.5)).toFixed(2)}×, p99 ${(percentile(ours, 0.99) / percentile(base, 0.99)).toFixed(2)}×`);
  return out.join("\n");
}

async function idleTable(): Promise<string> {
  const out: string[] = [];
  const idleRows: Array<Record<string, string | number>> = [];
  for (const count of idleCounts) {
    for (const [name, kind] of [["stock y-websocket server", "stock"], ["Concord region", "concord"]] as const) {
      progress(`${count} idle sockets on ${name}`);
      const r = await idleSockets(kind, count);
      idleRows.push({ setup: name, sockets: count, "RSS B/socket": r.rssPerSocket, "heap B/socket": r.heapPerSocket, "CPU ms/s idle": r.cpuMsPerSec });
    }
  }
  out.push(`\nidle stock sockets (goal: Concord RSS/socket ≤ the stock server's)${(globalThis as { gc?: unknown }).gc ? "" : " — run with node --expose-gc for steadier figures"}`);
  out.push(table(idleRows));
  return out.join("\n");
}

async function initialSyncs(stock: Endpoint, regions: Endpoint): Promise<string> {
  const out: string[] = [];
  progress("building the 260k-edit document");
  const big = bigDocument();
  progress("preloading it");
  await stock.preload("big", big.update);
  await regions.preload("big", big.update);
  progress("initial syncs");
  const baseSync = await initialSync(stock, "big");
  const ourSync = await initialSync(regions, "big");
  out.push(`\ninitial sync of a ${big.edits}-edit document (${big.source}, update ${big.update.length} bytes), median of 3`);
  out.push(table([{ setup: "stock y-websocket server", "ms": baseSync.toFixed(0) }, { setup: "Concord region", "ms": ourSync.toFixed(0) }]));
  out.push(`ratio ${(ourSync / baseSync).toFixed(2)}×`);
  return out.join("\n");
}
