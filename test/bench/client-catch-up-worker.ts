/**
 * One fresh client process of the catch-up bench (client-catch-up.bench.ts):
 * catches up on every document a server holds, then prints one JSON line:
 * time to synced, bytes received, sockets opened, and its RSS with all
 * documents held idle. Run apart from the servers so its RSS is its own.
 *
 *   node --import tsx test/bench/client-catch-up-worker.ts concord|y-websocket URL DOCS
 */
import { WebSocket } from "ws";
import * as Y from "yjs";
import { WebsocketProvider } from "y-websocket";
import { connect } from "../../src/client/index.ts";
import type { WebSocketConstructor } from "../../src/client/socket.ts";
import { loadSodium } from "../../src/crypto/sodium.ts";
import { openReplica } from "../../src/replica/replica.ts";
import { createMemoryStore } from "../../src/storage/memory-store.ts";

const [system, url, count] = [process.argv[2]!, process.argv[3]!, Number(process.argv[4])];
let bytes = 0;
let sockets = 0;
let firstMessageAt = 0;
/** ws's WebSocket, counting what it receives. */
class CountingWebSocket extends WebSocket {
  constructor(address: string, protocols?: string | string[]) {
    super(address, protocols);
    sockets++;
    this.on("message", (data: Buffer | ArrayBuffer | Buffer[]) => {
      firstMessageAt ||= performance.now();
      bytes += Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data as ArrayBuffer).byteLength;
    });
  }
}

const rss = () => {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss;
};

async function concord(): Promise<number> {
  await loadSodium();
  const replica = await openReplica({ store: createMemoryStore(), masterKey: new Uint8Array(32).fill(7), region: "client" });
  const started = performance.now();
  const sync = await connect(replica, { regions: [url], docs: { prefix: "bench/" }, WebSocket: CountingWebSocket as unknown as WebSocketConstructor });
  await sync.synced();
  const ms = performance.now() - started;
  let held = 0;
  for await (const _ of replica.list({ prefix: "bench/" })) held++;
  if (held !== count) throw new Error(`the client holds ${held} documents, not ${count}`);
  return ms;
}

async function yWebsocket(): Promise<number> {
  const started = performance.now();
  const docs: Y.Doc[] = [];
  await Promise.all(Array.from({ length: count }, (_, i) => {
    const doc = new Y.Doc();
    docs.push(doc);
    const provider = new WebsocketProvider(url, `bench/${i}`, doc, { WebSocketPolyfill: CountingWebSocket as never, disableBc: true });
    return new Promise<void>((resolve) => provider.once("sync", () => resolve()));
  }));
  return performance.now() - started;
}

const before = rss();
const startedAt = performance.now();
const ms = system === "concord" ? await concord() : await yWebsocket();
if (process.env["CATCHUP_TRACE"]) console.error(`${system}: first message after ${Math.round(firstMessageAt - startedAt)} ms`);
const after = rss();
console.log(JSON.stringify({ system, ms: Math.round(ms), bytes, sockets, rssMB: Math.round(after / 1e6), rssGrowthMB: Math.round((after - before) / 1e6) }));
process.exit(0);
