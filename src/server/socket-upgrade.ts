/**
 * WebSocket upgrades of a region's HTTP server: a small registry of routes
 * (path → handler) on the node server's 'upgrade' event. Every socket is
 * authenticated like HTTP (socket-auth.ts) before a route sees it, and the
 * region's limits apply to all routes together:
 * - at most `maxPendingUpgrades` handshakes in progress (the pre-auth queue:
 *   more get HTTP 503 before any WebSocket exists);
 * - at most `maxSockets` open sockets (more are accepted and closed with 1013,
 *   so a stock client backs off instead of treating it as a network error);
 * - a refused token is accepted then closed with 4401 / 4403, because stock
 *   clients only stop reconnecting on a permanent close code;
 * - a browser page from an origin that is neither this host nor allowed
 *   (socket-origin.ts) gets HTTP 403, whatever its token.
 *
 *   const upgrades = attachSocketUpgrades(server, { tokens, metrics });
 *   registerSocketRoute(server, { protocol: "yjs", match: (p) => p.startsWith("/v1/yjs/"), handle(ws, request, principal) { ... } });
 */
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { assert } from "../errors.ts";
import { createTokenTable, hashToken, isTokenTable, openPrincipal, type Principal, type TokenRecord, type TokenTable } from "./auth.ts";
import { socketToken, yauthPrefix } from "./socket-auth.ts";
import { normalizeOrigin, originAllowed } from "./socket-origin.ts";
import { closeCodes } from "./socket-close-codes.ts";
import { noSocketMetrics, type SocketMetrics } from "./socket-metrics.ts";

export interface SocketRoute {
  /** Label for metrics, e.g. "yjs". Default "socket". */
  protocol?: string;
  match(pathname: string): boolean;
  /**
   * False for a route whose frames carry their own authentication (the
   * region-to-region presence link): no token is asked for, and the
   * principal handed over has no scope. Default true.
   */
  tokens?: boolean;
  /** Takes over an authenticated socket. Must not throw; closes the socket itself when done. */
  handle(ws: WebSocket, request: IncomingMessage, principal: Principal): void;
}

export interface SocketUpgradeOptions {
  /** As for HTTP: undefined means authentication is off. A TokenTable follows tokens.json while the region runs; a revoked token's sockets close with 4401. */
  tokens?: readonly TokenRecord[] | TokenTable | undefined;
  /** Open sockets on this region, all routes together. Default 10,000. */
  maxSockets?: number;
  /** Handshakes in progress at once. Default 256. */
  maxPendingUpgrades?: number;
  /** Largest frame ws will buffer, bytes; larger frames close with 1009. Routes enforce their own, smaller limits. Default 64 MiB. */
  maxFrameBytes?: number;
  metrics?: SocketMetrics;
  /**
   * Page origins allowed to open sockets besides same-origin pages ("*": any);
   * handshakes without an Origin (not a browser) are always allowed. Default none.
   */
  allowedOrigins?: readonly string[];
}

export interface SocketUpgrades {
  /** Open sockets now. */
  readonly open: number;
  /** Closes every socket with `code` (default 1012, "service restart": stock clients reconnect) and stops accepting. */
  closeAll(code?: number, reason?: string): void;
  /**
   * Replaces the accepted tokens (after tokens.json changed, say). Live
   * sockets whose token is gone are closed with 4401, which stock clients
   * treat as permanent. Returns how many were closed.
   */
  updateTokens(tokens: readonly TokenRecord[] | undefined): number;
}

interface Registry extends SocketUpgrades {
  routes: SocketRoute[];
}

const registries = new WeakMap<Server, Registry>();

function terminateOnError(this: WebSocket): void {
  this.terminate();
}

const noScopes: Principal = { name: "self-authenticated", scopes: new Set(), prefix: "" };

/** Adds `route` to the upgrades of `server` (attachSocketUpgrades must have run). Earlier routes win. */
export function registerSocketRoute(server: Server, route: SocketRoute): void {
  const registry = registries.get(server);
  assert(registry, "attachSocketUpgrades(server, ...) before registerSocketRoute");
  registry.routes.push(route);
}

/** Starts answering upgrade requests on `server`; paths no route matches get 404. */
export function attachSocketUpgrades(server: Server, options: SocketUpgradeOptions = {}): SocketUpgrades {
  const maxSockets = options.maxSockets ?? 10_000;
  const maxPending = options.maxPendingUpgrades ?? 256;
  const metrics = options.metrics ?? noSocketMetrics;
  const origins = new Set((options.allowedOrigins ?? []).map(normalizeOrigin));
  const table = options.tokens === undefined || isTokenTable(options.tokens) ? options.tokens : createTokenTable(options.tokens);
  const authenticate = (token: string | undefined): Principal | undefined =>
    table === undefined ? openPrincipal : token === undefined || token === "" ? undefined : table.lookup(token);
  // Echo the yauth- subprotocol a client chose (browsers fail the handshake otherwise), or the first offered.
  const wss = new WebSocketServer({
    noServer: true, maxPayload: options.maxFrameBytes ?? 64 * 1024 * 1024,
    handleProtocols: (protocols) => [...protocols].find((p) => p.startsWith(yauthPrefix)) ?? [...protocols][0] ?? false,
  });
  // Each socket with the hash of its token ("" when authentication is off or the route authenticates itself).
  const sockets = new Map<WebSocket, string>();
  let pending = 0;
  let closing = false;

  const refuseHttp = (socket: Duplex, status: string) => {
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  };

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(request.url ?? "/", "http://socket.invalid");
    const route = registry.routes.find((r) => r.match(url.pathname));
    if (!route) return refuseHttp(socket, "404 Not Found");
    const protocol = route.protocol ?? "socket";
    if (!originAllowed(request, origins)) {
      metrics.rejected(protocol, "origin");
      return refuseHttp(socket, "403 Forbidden");
    }
    if (closing) return refuseHttp(socket, "503 Service Unavailable");
    if (pending >= maxPending) {
      metrics.rejected(protocol, "pending_upgrades");
      return refuseHttp(socket, "503 Service Unavailable");
    }
    // A handshake ws refuses (bad headers) never reaches the callback: the socket's end releases its place.
    let counted = true;
    const release = () => {
      if (counted) pending--;
      counted = false;
    };
    const destroy = () => socket.destroy();
    pending++;
    socket.once("close", release);
    socket.on("error", destroy);
    wss.handleUpgrade(request, socket, head, (ws) => {
      release();
      // From here ws handles the socket's errors and end. Dropping these two listeners lets the request, its headers and
      // its URL go once the route has read them: they hold this function's scope, and it would live as long as the socket.
      socket.off("close", release);
      socket.off("error", destroy);
      accept(ws, request, url, route);
    });
  };
  /** An upgraded socket: authenticated, counted, handed to its route. Its listeners keep `ws` and `protocol` alone alive. */
  const accept = (ws: WebSocket, request: IncomingMessage, url: URL, route: SocketRoute) => {
    const protocol = route.protocol ?? "socket";
    const refuse = (code: number, reason: string, metric: string) => {
      metrics.rejected(protocol, metric);
      ws.close(code, reason);
    };
    const token = route.tokens === false ? undefined : socketToken(request, url);
    const principal = route.tokens === false ? noScopes : authenticate(token);
    if (!principal) return refuse(closeCodes.unauthorized, "unknown or missing token", "unauthorized");
    if (closing) return refuse(closeCodes.unavailable, "shutting down", "unavailable");
    if (sockets.size >= maxSockets) return refuse(closeCodes.backPressure, "too many sockets on this region", "max_sockets");
    sockets.set(ws, route.tokens === false || token === undefined ? "" : hashToken(token));
    metrics.opened(protocol);
    ws.once("close", () => {
      sockets.delete(ws);
      metrics.closed(protocol);
    });
    ws.on("error", terminateOnError);
    route.handle(ws, request, principal);
  };
  server.on("upgrade", onUpgrade);
  const closeRevoked = (sha256: string) => {
    let closed = 0;
    for (const [ws, hash] of sockets) {
      if (hash !== sha256) continue;
      metrics.rejected("socket", "revoked");
      ws.close(closeCodes.unauthorized, "this token was revoked");
      closed++;
    }
    return closed;
  };
  table?.onRevoke(closeRevoked);

  const registry: Registry = {
    routes: [],
    get open() {
      return sockets.size;
    },
    closeAll(code = 1012, reason = "region restarting") {
      closing = true;
      for (const ws of sockets.keys()) ws.close(code, reason);
    },
    updateTokens(tokens) {
      if (table === undefined || tokens === undefined) return 0;
      const kept = new Set(tokens.map((t) => t.sha256));
      const closing = [...sockets.values()].filter((hash) => hash !== "" && !kept.has(hash)).length;
      table.replace(tokens); // announces each revoked token: closeRevoked closes its sockets
      return closing;
    },
  };
  registries.set(server, registry);
  return registry;
}
