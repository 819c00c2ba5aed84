/**
 * A child process for the stock-sockets bench: holds `count` idle WebSockets
 * open to one server, so the server's process alone pays for its side of
 * them (and 10,000 client plus 10,000 server sockets do not share one
 * process's descriptor limit). Usage: idle-socket-clients.ts BASE_URL COUNT QUERY
 * Prints "ready" once every socket got its first message (the server's sync
 * step 1: the socket is fully set up), then closes them all and exits when
 * its stdin ends.
 */
import { WebSocket } from "ws";

const [base, countArg, query = ""] = process.argv.slice(2);
const count = Number(countArg);
if (!base || !Number.isInteger(count) || count < 1) {
  console.error("usage: idle-socket-clients.ts BASE_URL COUNT [QUERY]");
  process.exit(2);
}

const open = (i: number) => new Promise<WebSocket>((resolve, reject) => {
  const ws = new WebSocket(`${base}/idle-${i % 100}${query ? `?${query}` : ""}`);
  ws.once("message", () => resolve(ws));
  ws.once("error", reject);
});

const sockets: WebSocket[] = [];
const inFlight = 32; // a few handshakes at a time: fast, without a connection storm that measures the backlog
for (let i = 0; i < count; i += inFlight) {
  sockets.push(...await Promise.all(Array.from({ length: Math.min(inFlight, count - i) }, (_, k) => open(i + k))));
}
process.stdout.write("ready\n");
process.stdin.resume();
process.stdin.on("end", () => {
  for (const ws of sockets) ws.terminate();
  process.exit(0);
});
