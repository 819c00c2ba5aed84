/**
 * The servers the stock-sockets bench opens idle sockets against: the
 * reference y-websocket server (setupWSConnection) and region a of a
 * two-region Concord cluster. Used by idle-socket-server.ts (the bench's
 * server process) and idle-socket-heap.ts (heap snapshots).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";
import { setupWSConnection } from "@y/websocket-server/utils";
import { startStockCluster, tokens } from "../server/stock-regions.ts";

export interface IdleServer {
  url: string;
  /** Query string the clients add (the token), or "". */
  query: string;
  stop(): Promise<void>;
}

/** The reference y-websocket server (setupWSConnection), or region a of a two-region Concord cluster. */
export async function startIdleServer(kind: string): Promise<IdleServer> {
  if (kind === "stock") {
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
  const cluster = await startStockCluster(["a", "b"], { sockets: { upgrades: { maxSockets: 20_000 } } });
  return { url: cluster.wsUrl("a", "/v1/yjs"), query: `token=${tokens.writer}`, stop: () => cluster.stop() };
}
