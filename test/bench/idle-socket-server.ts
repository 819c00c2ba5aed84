/**
 * A child process for the stock-sockets bench: runs one server that idle
 * sockets are opened against, alone in its process, so its memory figures
 * start from a clean heap. Run in the bench's process, the second server
 * measured reused pages the first one had freed, and its RSS per socket came
 * out low (once below its own heap growth).
 * Usage: node --expose-gc --import tsx idle-socket-server.ts stock|concord
 * Prints "url URL QUERY" once listening; each "measure" line on stdin gets a
 * JSON line { rss, heapUsed, cpuMicros } after a full GC, and cpuMicrosBeforeGc; stops when stdin ends.
 */
import { createInterface } from "node:readline";
import { startIdleServer } from "./idle-servers.ts";

const kind = process.argv[2] ?? "";
if (kind !== "stock" && kind !== "concord") {
  console.error("usage: idle-socket-server.ts stock|concord");
  process.exit(2);
}
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const server = await startIdleServer(kind);
process.stdout.write(`url ${server.url} ${server.query}\n`);
const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (line.trim() !== "measure") return;
  // CPU read on both sides of the GCs: they are the measurement's own work, not the server's.
  const cpuBeforeGc = process.cpuUsage();
  gc();
  gc();
  const { rss, heapUsed } = process.memoryUsage();
  const cpu = process.cpuUsage();
  process.stdout.write(`${JSON.stringify({ rss, heapUsed, cpuMicros: cpu.user + cpu.system, cpuMicrosBeforeGc: cpuBeforeGc.user + cpuBeforeGc.system })}\n`);
});
lines.on("close", () => void server.stop().then(() => process.exit(0)));
