/**
 * Issue 12's catch-up bench: a fresh client (its own plain-node process, on
 * built JavaScript) catches up on 1,000 documents × 50 edits a server holds,
 * (the peers' workload of the speed issue: random text, so bytes compare
 * coding, not how well a repetitive text deflates)
 * with Concord's sync client on a region's /v1/sync, with a stock y-websocket
 * client (one provider and socket per document) on a stock y-websocket
 * server, and with an automerge-repo client (one socket, `repo.find` of every
 * document) on an automerge-repo server (the same 50 edits as Automerge
 * changes), same run. Goals: time ≤ 0.5× y-websocket's, bytes ≤ 0.5×, client
 * RSS ≤ 100 MB with the 1,000 documents held idle, and one edit seen by a
 * second synced client ≤ 2× y-websocket's latency.
 */
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import * as Automerge from "@automerge/automerge";
import { Repo } from "@automerge/automerge-repo";
import { WebSocketServerAdapter } from "@automerge/automerge-repo-network-websocket";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { docs as yDocs, getYDoc, setupWSConnection } from "@y/websocket-server/utils";
import { WebSocket, WebSocketServer } from "ws";
import { WebsocketProvider } from "y-websocket";
import { connect } from "../../src/client/index.ts";
import type { WebSocketConstructor } from "../../src/client/socket.ts";
import { openReplica } from "../../src/replica/replica.ts";
import { createMemoryStore } from "../../src/storage/memory-store.ts";
import * as Y from "yjs";
import { startRegion } from "../../src/server/region.ts";
import { readTopologyFile } from "../../src/server/topology-file.ts";
import { initTopologyKeys } from "../../src/server/topology-keys.ts";
import { tempDir } from "../helpers/replicas.ts";
import { writeTopology } from "../server/processes.ts";
import { peerEdits } from "./catch-up-workload.ts";
import { table } from "./harness.ts";

const docCount = Number(process.env["CATCHUP_DOCS"] ?? 1000);
const editsPerDoc = 50;
const worker = fileURLToPath(new URL("./client-catch-up-worker.mjs", import.meta.url));
const buildScript = fileURLToPath(new URL("../../.ci/build.mjs", import.meta.url));
const run = promisify(execFile);

/**
 * The peers' workload of the speed issue (catch-up-workload.ts: seeded, each edit inserts 1–10 random characters
 * at a random position and sets one of 8 map keys to a random integer), the same edits for both engines.
 */
const workload = peerEdits(1, docCount, editsPerDoc);

/** Document `i` after its 50 edits (one transaction each), as a Yjs update. */
function documentState(i: number): Uint8Array {
  const doc = new Y.Doc();
  for (const edit of workload[i]!) {
    doc.transact(() => {
      doc.getText("text").insert(edit.pos, edit.chars);
      doc.getMap("map").set(edit.key, edit.value);
    });
  }
  return Y.encodeStateAsUpdate(doc);
}

/** The same 50 edits as one Automerge document's changes (a splice and a map set each), saved. */
function automergeState(i: number): Uint8Array {
  let doc = Automerge.from<{ text: string; map: Record<string, number> }>({ text: "", map: {} });
  for (const edit of workload[i]!) {
    doc = Automerge.change(doc, (d) => {
      Automerge.splice(d, ["text"], edit.pos, 0, edit.chars);
      d.map[edit.key] = edit.value;
    });
  }
  return Automerge.save(doc);
}

interface ClientFigures { ms: number; bytes: number; sockets: number; rssMB: number; rssGrowthMB: number; unavailable: number }

/** One fresh client in plain node, on built JavaScript (the worker imports the package's dist/ by name). */
async function client(system: string, url: string, extra: string[] = []): Promise<ClientFigures> {
  const { stdout } = await run(process.execPath, ["--expose-gc", worker, system, url, String(docCount), ...extra], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

const rounds = 30;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Median ms from an edit on one synced Concord client to its arrival on another, both on the region's socket. */
async function concordLatency(url: string): Promise<number> {
  const open = () => openReplica({ store: createMemoryStore(), masterKey: new Uint8Array(32).fill(3) });
  const [a, b] = [await open(), await open()];
  const options = { regions: [url], docs: ["latency/doc"], WebSocket: WebSocket as unknown as WebSocketConstructor };
  const [sa, sb] = [await connect(a, options), await connect(b, options)];
  await Promise.all([sa.synced(), sb.synced()]);
  await a.create("latency/doc", "yjs");
  await new Promise<void>((resolve) => { const off = b.subscribe("latency/doc", () => (off(), resolve())); });
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const seen = new Promise<void>((resolve) => { const off = b.subscribe("latency/doc", () => (off(), resolve())); });
    const started = performance.now();
    await a.patch("latency/doc", [{ op: "set", path: ["m", "i"], value: i }]);
    await seen;
    times.push(performance.now() - started);
  }
  await Promise.all([sa.close(), sb.close()]);
  await Promise.all([a.close(), b.close()]);
  return median(times);
}

/** The same with two stock y-websocket providers on one document. */
async function yLatency(url: string): Promise<number> {
  const [a, b] = [new Y.Doc(), new Y.Doc()];
  const options = { WebSocketPolyfill: WebSocket as never, disableBc: true };
  const [pa, pb] = [new WebsocketProvider(url, "latency/doc", a, options), new WebsocketProvider(url, "latency/doc", b, options)];
  await Promise.all([pa, pb].map((p) => new Promise<void>((resolve) => p.once("sync", () => resolve()))));
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const seen = new Promise<void>((resolve) => b.once("update", () => resolve()));
    const started = performance.now();
    a.getMap("m").set("i", i);
    await seen;
    times.push(performance.now() - started);
  }
  // Their awareness keeps an interval running past destroy(): end it, or the bench process never exits.
  for (const p of [pa, pb]) {
    p.destroy();
    p.awareness.destroy();
  }
  return median(times);
}

/** A stock automerge-repo server (in memory) holding the documents; their automerge: URLs. */
async function automergeRepoServer(): Promise<{ url: string; urls: string[]; close(): Promise<void> }> {
  const http = createServer();
  const wss = new WebSocketServer({ server: http });
  const repo = new Repo({ network: [new WebSocketServerAdapter(wss as never)], peerId: "bench-server" as never, sharePolicy: async () => false });
  const urls = Array.from({ length: docCount }, (_, i) => repo.import(automergeState(i)).url);
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  return {
    url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}`,
    urls,
    async close() {
      for (const ws of wss.clients) ws.terminate();
      await repo.shutdown();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

export async function run_(): Promise<string> {
  await run(process.execPath, [buildScript]); // the Concord client runs from dist/: make sure it is current
  const states = Array.from({ length: docCount }, (_, i) => documentState(i));

  // Concord: one region, auth off (the bench measures sync, not tokens).
  const dir = await tempDir("concord-catchup-bench-");
  const { file } = await writeTopology(dir.path, ["solo"]);
  const { topology } = await initTopologyKeys(await readTopologyFile(file), dir.path);
  const region = await startRegion({ topology, region: "solo", dataDir: join(dir.path, "solo"), port: 0, auth: "off" });
  for (let i = 0; i < docCount; i++) {
    await region.replica.create(`bench/${i}`, "yjs");
    await region.replica.update(`bench/${i}`, states[i]!);
  }

  // Stock y-websocket server, same documents.
  const http = createServer();
  const wss = new WebSocketServer({ noServer: true });
  http.on("upgrade", (request, socket, head) => wss.handleUpgrade(request, socket, head, (ws) => setupWSConnection(ws, request)));
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  for (let i = 0; i < docCount; i++) Y.applyUpdate(getYDoc(`bench/${i}`), states[i]!);
  const yUrl = `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;

  const am = await automergeRepoServer();
  const amUrls = join(dir.path, "automerge-urls.json");
  await writeFile(amUrls, JSON.stringify(am.urls));

  try {
    const y = await client("y-websocket", yUrl);
    const a = await client("automerge-repo", am.url, [amUrls]);
    const c = await client("concord", region.url);
    const trace = (what: string) => process.env["CATCHUP_TRACE"] && console.error(`catch-up bench: ${what}`);
    trace("clients done");
    const yMs = await yLatency(yUrl);
    trace("y-websocket latency done");
    const cMs = await concordLatency(region.url);
    trace("concord latency done");
    const ratio = (a: number, b: number) => (a / b).toFixed(2);
    return [
      `${docCount} documents × ${editsPerDoc} edits; fresh client in its own plain-node process on built JavaScript; load average ${loadavg().map((l) => l.toFixed(1)).join(" ")} on ${availableParallelism()} cores`,
      table([
        { client: "y-websocket (stock server)", ms: y.ms, "bytes received": y.bytes, sockets: y.sockets, "client RSS MB": y.rssMB, "RSS growth MB": y.rssGrowthMB },
        { client: "automerge-repo (stock server)", ms: a.ms, "bytes received": a.bytes, sockets: a.sockets, "client RSS MB": a.rssMB, "RSS growth MB": a.rssGrowthMB },
        { client: "concord sync client", ms: c.ms, "bytes received": c.bytes, sockets: c.sockets, "client RSS MB": c.rssMB, "RSS growth MB": c.rssGrowthMB },
      ]),
      ...(a.unavailable > 0 ? [`automerge-repo: ${a.unavailable} of ${docCount} finds answered "unavailable" (its time and bytes cover the others)`] : []),
      `time ${ratio(c.ms, y.ms)}× y-websocket's (goal ≤ 0.5), ${ratio(c.ms, a.ms)}× automerge-repo's; bytes ${ratio(c.bytes, y.bytes)}× y-websocket's (goal ≤ 0.5), ${ratio(c.bytes, a.bytes)}× automerge-repo's`,
      `client RSS ${c.rssMB} MB with ${docCount} idle documents (goal ≤ 100), ${c.rssGrowthMB} MB of it grown while catching up`,
      `one edit seen by a second synced client (median of ${rounds}): concord ${cMs.toFixed(1)} ms (relayed as applied, before the region's disk), y-websocket ${yMs.toFixed(1)} ms: ${ratio(cMs, yMs)}× (goal ≤ 2)`,
    ].join("\n");
  } finally {
    for (const ws of wss.clients) ws.terminate();
    for (const doc of yDocs.values()) {
      (doc as { awareness?: { destroy(): void } }).awareness?.destroy();
      doc.destroy();
    }
    await new Promise<void>((resolve) => http.close(() => resolve()));
    await am.close();
    await region.stop();
    await dir.remove();
  }
}

export { run_ as run };
