/**
 * Wires the stock-protocol sockets into a region's HTTP server: the upgrade
 * registry with the region's tokens, their metrics on the app's registry,
 * the y-websocket and automerge-repo routes, and the presence link between
 * regions. One call from region.ts.
 */
import type { Server } from "node:http";
import type { Registry } from "prom-client";
import type { Replica } from "../replica/replica.ts";
import type { Clock } from "../runtime/clock.ts";
import type { TokenRecord, TokenTable } from "./auth.ts";
import type { PresenceLink } from "./presence-link.ts";
import { createSocketMetrics } from "./socket-metrics.ts";
import { attachSocketUpgrades, registerSocketRoute, type SocketUpgradeOptions, type SocketUpgrades } from "./socket-upgrade.ts";
import { automergeSocketRoute, type AutomergeSocketOptions } from "./automerge-repo-socket.ts";
import { yjsSocketRoute, type YjsSocketOptions } from "./yjs-socket.ts";

export interface StockSocketOptions {
  replica: Replica;
  clock: Clock;
  tokens: readonly TokenRecord[] | TokenTable | undefined;
  registry: Registry;
  /** Presence between regions (absent for a lone region). */
  presence?: PresenceLink;
  upgrades?: Omit<SocketUpgradeOptions, "tokens" | "metrics">;
  yjs?: YjsSocketOptions["limits"];
  automerge?: AutomergeSocketOptions["limits"];
  /** This region's id (the automerge-repo peer id is `concord-<region>`). */
  region: string;
  /** Asks the other regions for documents before answering doc-unavailable. */
  askPeers(): Promise<void>;
}

export function attachStockSockets(server: Server, options: StockSocketOptions): SocketUpgrades {
  const metrics = createSocketMetrics(options.registry);
  const upgrades = attachSocketUpgrades(server, { ...options.upgrades, tokens: options.tokens, metrics });
  const { replica, clock, presence } = options;
  if (presence) registerSocketRoute(server, presence.route);
  registerSocketRoute(server, yjsSocketRoute({ replica, clock, metrics, ...(presence ? { presence } : {}), ...(options.yjs ? { limits: options.yjs } : {}) }));
  registerSocketRoute(server, automergeSocketRoute({
    replica, clock, metrics, region: options.region, askPeers: options.askPeers,
    ...(presence ? { presence } : {}), ...(options.automerge ? { limits: options.automerge } : {}),
  }));
  return upgrades;
}
