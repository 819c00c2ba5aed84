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
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeHeapSnapshot } from "node:v8";
import { startIdleServer } from "./idle-servers.ts";

const [target = "concord", countArg = "2000", outDir = "."] = process.argv.slice(2);
const count = Number(countArg);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

const snapshot = (name: string) => {
  gc();
  gc();
  const file = writeHeapSnapshot(join(outDir, `${target}-${name}.heapsnapshot`));
  console.log(`${name}: ${file} heapUsed ${process.memoryUsage().heapUsed} rss ${process.memoryUsage().rss}`);
};

const server = await startIdleServer(target);
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
