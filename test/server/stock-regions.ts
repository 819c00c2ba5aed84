/**
 * Test helpers for the stock-protocol sockets: regions started in-process
 * (startRegion) on a generated topology with known tokens, and a raw
 * WebSocket that records what it receives and how it was closed.
 */
import { join } from "node:path";
import { WebSocket } from "ws";
import { WebsocketProvider } from "y-websocket";
import * as Y from "yjs";
import type { TokenRecord } from "../../src/server/auth.ts";
import { hashToken } from "../../src/server/auth.ts";
import { startRegion, type RegionOptions, type RunningRegion } from "../../src/server/region.ts";
import { readTopologyFile, writeTopologyFile } from "../../src/server/topology-file.ts";
import { initTopologyKeys } from "../../src/server/topology-keys.ts";
import { tempDir } from "../helpers/replicas.ts";
import { poll, writeTopology } from "./processes.ts";

export const tokens = { writer: "writer-token-7f3a", reader: "reader-token-91c2", other: "other-token-2b8d" } as const;

export const tokenRecords: TokenRecord[] = [
  { name: "writer", sha256: hashToken(tokens.writer), scopes: ["read", "write"] },
  { name: "reader", sha256: hashToken(tokens.reader), scopes: ["read"] },
  { name: "other", sha256: hashToken(tokens.other), scopes: ["read", "write"], prefix: "other/" },
];

export interface StockCluster {
  regions: Map<string, RunningRegion>;
  wsUrl(id: string, path: string): string;
  /** Stops region `id` (its sockets get 1012) and starts it again on the same port and data. */
  restart(id: string): Promise<void>;
  stop(): Promise<void>;
}

/** Starts regions `ids` gossiping with each other; `extra` is merged into every region's options. */
export async function startStockCluster(ids: string[], extra: Partial<RegionOptions> = {}): Promise<StockCluster> {
  const dir = await tempDir("concord-stock-");
  const { file, urls } = await writeTopology(dir.path, ids);
  const { topology } = await initTopologyKeys(await readTopologyFile(file), dir.path);
  await writeTopologyFile(join(dir.path, "topology.json"), topology);
  const regions = new Map<string, RunningRegion>();
  const start = async (id: string) => {
    regions.set(id, await startRegion({
      topology, region: id, dataDir: join(dir.path, id), port: Number(new URL(urls[id]!).port), gossipTimeoutMs: 2000,
      server: { tokens: tokenRecords }, ...extra,
    }));
  };
  for (const id of ids) await start(id);
  return {
    regions,
    async restart(id) {
      await regions.get(id)!.stop();
      await start(id);
    },
    wsUrl: (id, path) => `${regions.get(id)!.url.replace(/^http/, "ws")}${path}`,
    async stop() {
      for (const region of regions.values()) await region.stop();
      await dir.remove();
    },
  };
}

/** A raw socket that keeps every binary message and its close code. */
/** Stock WebsocketProviders on a cluster's /v1/yjs, remembered so a test file destroys them all at the end. */
export function stockProviders(cluster: () => StockCluster) {
  const made: WebsocketProvider[] = [];
  return {
    open(region: string, doc: string, token: string = tokens.writer, ydoc = new Y.Doc()): WebsocketProvider {
      const p = new WebsocketProvider(cluster().wsUrl(region, "/v1/yjs"), doc, ydoc, { WebSocketPolyfill: WebSocket as never, params: { token }, disableBc: true });
      made.push(p);
      return p;
    },
    destroyAll(): void {
      for (const p of made) p.destroy();
    },
  };
}

export interface RawSocket {
  ws: WebSocket;
  messages: Uint8Array[];
  opened: Promise<void>;
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves with the first message (from now on, or already received) that `match` accepts. */
  next(match: (message: Uint8Array) => boolean, what: string): Promise<Uint8Array>;
}

export function rawSocket(url: string, protocols?: string[]): RawSocket {
  const ws = new WebSocket(url, protocols);
  const messages: Uint8Array[] = [];
  ws.binaryType = "nodebuffer";
  ws.on("message", (data: Buffer) => messages.push(new Uint8Array(data)));
  ws.on("error", () => {});
  const opened = new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  return {
    ws, messages, opened, closed,
    next: (match, what) => poll(what, async () => messages.find(match)),
  };
}
