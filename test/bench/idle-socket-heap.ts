/**
 * Where a server's memory per idle stock socket goes: writes a heap snapshot
 * before and after `count` idle y-websocket sockets (clients in a child
 * process, as in stock-sockets.bench.ts), for a Concord region or the stock
 * y-websocket server. Compare the two snapshots in Chrome DevTools
 * (Memory → Comparison) or any heap-snapshot diff.
 *
 *   node --expose-gc --import tsx test/bench/idle-socket-heap.ts concord|stock COUNT OUT_DIR
 */
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeHeapSnapshot } from "node:v8";
import { WebSocketServer } from "ws";
import { setupWSConnection } from "@y/websocket-server/utils";
import { startStockCluster, tokens } from "../server/stock-regions.ts";

const [target = "concord", countArg = "2000", outDir = "."] = process.argv.slice(2);
const count = Number(countArg);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

async function serve(): Promise<{ url: string; query: string; stop(): Promise<void> }> {
  if (target === "stock") {
    const server = createServer();
    const wss = new WebSocketServer({ noServer: true });
    server.on("upgrade", (request, socket, head) => wss.handleUpgrade(request, socket, head, (ws) => setupWSConnection(ws, request)));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return {
      url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, query: "",
      stop: async () => {
        for (const ws of wss.clients) ws.terminate();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }
  const cluster = await startStockCluster(["a"], { sockets: { upgrades: { maxSockets: 20_000 } } });
  return { url: cluster.wsUrl("a", "/v1/yjs"), query: `token=${tokens.writer}`, stop: () => cluster.stop() };
}

const snapshot = (name: string) => {
  gc();
  gc();
  const file = writeHeapSnapshot(join(outDir, `${target}-${name}.heapsnapshot`));
  console.log(`${name}: ${file} heapUsed ${process.memoryUsage().heapUsed} rss ${process.memoryUsage().rss}`);
};

const server = await serve();
// Warm up: one round of sockets opened and closed, so lazily built code and rooms are not counted as per-socket.
for (const [n, name] of [[Math.min(count, 200), "warm"], [count, "after"]] as const) {
  if (name === "after") snapshot("before");
  const script = fileURLToPath(new URL("./idle-socket-clients.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", script, server.url, String(n), server.query], { stdio: ["pipe", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (chunk: Buffer) => chunk.toString().includes("ready") && resolve());
    child.once("exit", (code) => reject(new Error(`idle-socket-clients exited with ${code}`)));
  });
  if (name === "after") snapshot("after");
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.stdin.end();
  await exited;
  await new Promise((resolve) => setTimeout(resolve, 500)); // let the server see the closes
}
await server.stop();
