/**
 * One fresh client process of the catch-up bench (client-catch-up.bench.ts):
 * catches up on every document a server holds, then prints one JSON line:
 * time to synced, bytes received, sockets opened, and its RSS with all
 * documents held idle. Plain JavaScript run by plain `node` (no tsx), and
 * Concord from its built package (`concord`, `concord/client`: dist/, so run
 * `npm run build` first), as an app would run it: the RSS is the client's own.
 *
 *   node --expose-gc test/bench/client-catch-up-worker.mjs concord|y-websocket|automerge-repo URL DOCS [URLS_FILE]
 */
import { readFileSync } from "node:fs";
import { WebSocket } from "ws";

const [system, url, count, urlsFile] = [process.argv[2], process.argv[3], Number(process.argv[4]), process.argv[5]];
let bytes = 0;
let sockets = 0;
const byteLength = (data) => (Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength ?? data.length ?? 0);

/** ws's WebSocket, counting what it receives. */
class CountingWebSocket extends WebSocket {
  constructor(address, protocols) {
    super(address, protocols);
    sockets++;
    this.on("message", (data) => void (bytes += byteLength(data)));
  }
}

const rss = () => {
  globalThis.gc?.();
  return process.memoryUsage().rss;
};

async function concord() {
  const { openReplica, createMemoryStore } = await import("concord");
  const { connect } = await import("concord/client");
  // CATCHUP_CLIENT_CACHE_MB: the replica's document cache budget (default 256 MB), to see how much of the RSS is held documents.
  const cacheMb = Number(process.env["CATCHUP_CLIENT_CACHE_MB"] ?? 0);
  const replica = await openReplica({
    store: createMemoryStore(), masterKey: new Uint8Array(32).fill(7), region: "client", ...(cacheMb > 0 ? { cacheMaxBytes: cacheMb << 20 } : {}),
  });
  const before = rss();
  const started = performance.now();
  const sync = await connect(replica, { regions: [url], docs: { prefix: "bench/" }, WebSocket: CountingWebSocket });
  await sync.synced();
  const ms = performance.now() - started;
  let held = 0;
  for await (const _ of replica.list({ prefix: "bench/" })) held++;
  if (held !== count) throw new Error(`the client holds ${held} documents, not ${count}`);
  return { ms, before };
}

async function yWebsocket() {
  const Y = await import("yjs");
  const { WebsocketProvider } = await import("y-websocket");
  const before = rss();
  const started = performance.now();
  await Promise.all(Array.from({ length: count }, (_, i) => {
    const provider = new WebsocketProvider(url, `bench/${i}`, new Y.Doc(), { WebSocketPolyfill: CountingWebSocket, disableBc: true });
    return new Promise((resolve) => provider.once("sync", () => resolve()));
  }));
  return { ms: performance.now() - started, before };
}

async function automergeRepo() {
  const { Repo } = await import("@automerge/automerge-repo");
  const { WebSocketClientAdapter } = await import("@automerge/automerge-repo-network-websocket");
  const urls = JSON.parse(readFileSync(urlsFile, "utf8"));
  if (urls.length !== count) throw new Error(`${urlsFile} lists ${urls.length} documents, not ${count}`);
  const before = rss();
  const started = performance.now();
  const adapter = new WebSocketClientAdapter(url);
  // The adapter opens its sockets itself (isomorphic-ws: ws's class): count them, and what they receive, through its handlers.
  const { onMessage, onOpen } = adapter;
  adapter.onMessage = (event) => {
    bytes += byteLength(event.data);
    onMessage(event);
  };
  adapter.onOpen = () => {
    sockets++;
    onOpen();
  };
  const repo = new Repo({ network: [adapter] });
  // find() answers "unavailable" at once while no peer is connected (the adapter says ready after 1 s, peer or not): wait for the server.
  await new Promise((resolve) => {
    if (repo.peers.length > 0) return resolve();
    repo.networkSubsystem.once("peer", () => resolve());
  });
  // At most 200 finds at once: with all 1,000 at once, automerge-repo 2.5 answers some "unavailable" (seen here, not investigated).
  // Under load some still come back "unavailable" from a server that holds them: counted and reported, not hidden.
  const handles = [];
  let next = 0;
  await Promise.all(Array.from({ length: 200 }, async () => {
    while (next < urls.length) {
      const i = next++;
      handles[i] = await repo.find(urls[i]).catch(() => undefined);
    }
  }));
  const ms = performance.now() - started;
  const unavailable = handles.filter((h) => h === undefined).length;
  const empty = handles.filter((h) => h !== undefined && Object.keys(h.doc() ?? {}).length === 0).length;
  if (empty > 0) throw new Error(`${empty} documents arrived empty`);
  return { ms, before, unavailable };
}

const run = { concord, "y-websocket": yWebsocket, "automerge-repo": automergeRepo }[system];
if (!run) throw new Error(`unknown system ${system}`);
const { ms, before, unavailable = 0 } = await run();
const after = rss();
if (process.env["CATCHUP_TRACE"]) console.error(`${system}: ${JSON.stringify(Object.fromEntries(Object.entries(process.memoryUsage()).map(([k, v]) => [k, Math.round(v / 1e6)])))} MB`);
console.log(JSON.stringify({ system, ms: Math.round(ms), bytes, sockets, rssMB: Math.round(after / 1e6), rssGrowthMB: Math.round((after - before) / 1e6), unavailable }));
process.exit(0);
