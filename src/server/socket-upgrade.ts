/**
 * WebSocket upgrades of a region's HTTP server: a small registry of routes
 * (path → handler) on the node server's 'upgrade' event. Every socket is
 * authenticated like HTTP, with the same tokens (a TokenTable follows
 * tokens.json while the region runs), before a route sees it. Browsers cannot
 * send headers on a WebSocket, so the token may come as `?token=` too. A
 * refused token is accepted and closed with 4401 (a close code a client can
 * read; an HTTP 401 on the handshake reaches a browser only as "failed").
 *
 *   const upgrades = attachSocketUpgrades(server, { tokens });
 *   registerSocketRoute(server, { match: (p) => p === "/v1/sync", handle(ws, request, principal) { ... } });
 */
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { assert } from "../errors.ts";
import { bearerToken, createTokenTable, isTokenTable, openPrincipal, type Principal, type TokenRecord, type TokenTable } from "./auth.ts";

export interface SocketRoute {
  /** Label for logs and metrics, e.g. "sync". */
  protocol?: string;
  match(pathname: string): boolean;
  /** Takes over an authenticated socket. Must not throw; closes the socket itself when done. */
  handle(ws: WebSocket, request: IncomingMessage, principal: Principal): void;
}

export interface SocketUpgradeOptions {
  /** As for HTTP: undefined means authentication is off. */
  tokens?: readonly TokenRecord[] | TokenTable | undefined;
  /** Largest frame ws buffers, bytes; larger ones close with 1009. Routes enforce their own, smaller limits. Default 64 MiB. */
  maxFrameBytes?: number;
}

export interface SocketUpgrades {
  /** Open sockets now. */
  readonly open: number;
  /** Closes every socket with `code` (default 1012, "service restart": clients reconnect) and stops accepting. */
  closeAll(code?: number, reason?: string): void;
}

interface Registry extends SocketUpgrades {
  routes: SocketRoute[];
}

const registries = new WeakMap<Server, Registry>();

/** Adds `route` to the upgrades of `server` (attachSocketUpgrades must have run). Earlier routes win. */
export function registerSocketRoute(server: Server, route: SocketRoute): void {
  const registry = registries.get(server);
  assert(registry, "attachSocketUpgrades(server, ...) before registerSocketRoute");
  registry.routes.push(route);
}

/** Starts answering upgrade requests on `server`; paths no route matches get 404. */
export function attachSocketUpgrades(server: Server, options: SocketUpgradeOptions = {}): SocketUpgrades {
  const table = options.tokens === undefined || isTokenTable(options.tokens) ? options.tokens : createTokenTable(options.tokens);
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxFrameBytes ?? 64 << 20 });
  const sockets = new Set<WebSocket>();
  let closing = false;
  const refuseHttp = (socket: Duplex, status: string) => socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);

  server.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(request.url ?? "/", "http://socket.invalid");
    const route = registry.routes.find((r) => r.match(url.pathname));
    if (!route) return refuseHttp(socket, "404 Not Found");
    if (closing) return refuseHttp(socket, "503 Service Unavailable");
    socket.on("error", () => socket.destroy());
    wss.handleUpgrade(request, socket, head, (ws) => {
      const token = bearerToken(request.headers.authorization, url.searchParams.get("token"));
      const principal = table === undefined ? openPrincipal : token === undefined ? undefined : table.lookup(token);
      if (!principal) return ws.close(4401, "unknown or missing token");
      if (closing) return ws.close(4503, "shutting down");
      sockets.add(ws);
      ws.once("close", () => sockets.delete(ws));
      ws.on("error", () => ws.terminate());
      route.handle(ws, request, principal);
    });
  });

  const registry: Registry = {
    routes: [],
    get open() {
      return sockets.size;
    },
    closeAll(code = 1012, reason = "region restarting") {
      closing = true;
      for (const ws of sockets) ws.close(code, reason);
    },
  };
  registries.set(server, registry);
  return registry;
}
