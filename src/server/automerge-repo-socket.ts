/**
 * The automerge-repo network protocol at `/v1/automerge`, so a stock
 * `WebSocketClientAdapter` works unchanged (its only hook for a token is the
 * URL):
 *
 *   new Repo({ network: [new WebSocketClientAdapter(`ws://HOST/v1/automerge?token=${token}`)] })
 *
 * This region is one peer, `concord-<region>`. An automerge-repo document id
 * (the base58check part of an `automerge:` URL) is the Concord document id,
 * unchanged: `automerge:4NMNnkMh...` is document `4NMNnkMh...` over HTTP,
 * and a token's prefix applies to it as to any id. Documents are synced one
 * room each (automerge-repo-room.ts); ephemeral messages are relayed to the
 * other peers of the document here and in the other regions, deduplicated
 * on (sessionId, count), and never stored.
 */
import type { IncomingMessage } from "node:http";
import type { WebSocket } from "ws";
import type { Clock } from "../runtime/clock.ts";
import type { Principal } from "./auth.ts";
import type { PresenceRelay } from "./presence-relay.ts";
import type { SocketMetrics } from "./socket-metrics.ts";
import type { SocketRoute } from "./socket-upgrade.ts";
import { AutomergeRoom, type AutomergeReplicaPort } from "./automerge-repo-room.ts";
import { decodeRepoMessage, encodeRepoMessage } from "./automerge-repo-codec.ts";
import { RepoConnection, type RepoConnectionLimits, type RepoRouteContext } from "./automerge-repo-connection.ts";
import { createPingQueue } from "./socket-pings.ts";

export interface AutomergeSocketOptions {
  replica: AutomergeReplicaPort;
  clock: Clock;
  metrics: SocketMetrics;
  /** This region's id: the server's peer id is `concord-<region>`. */
  region: string;
  /** Asks the other regions for documents (one anti-entropy round each); resolves at once for a lone region. */
  askPeers(): Promise<void>;
  presence?: PresenceRelay;
  limits?: Partial<RepoConnectionLimits>;
}

export const automergePath = "/v1/automerge";

export const defaultRepoLimits: RepoConnectionLimits = {
  maxMessageBytes: 8 * 1024 * 1024,
  maxQueuedMessages: 256,
  messagesPerSecond: 200,
  messageBurst: 1000,
  pingMs: 5000,
  maxEphemeralIds: 4096,
};

export interface AutomergeSocketRoute extends SocketRoute {
  readonly rooms: ReadonlyMap<string, AutomergeRoom>;
}

export function automergeSocketRoute(options: AutomergeSocketOptions): AutomergeSocketRoute {
  const limits = { ...defaultRepoLimits, ...options.limits };
  const { replica, metrics, presence } = options;
  const rooms = new Map<string, AutomergeRoom>();
  const byPeer = new Map<string, RepoConnection>();
  const seenEphemeral = new Set<string>();
  const serverPeerId = `concord-${options.region}`;
  // Concurrent asks share one round: a burst of requests for unknown ids costs one anti-entropy pass.
  let asking: Promise<void> | undefined;
  const askPeers = () => (asking ??= options.askPeers().finally(() => (asking = undefined)));

  const roomFor = (id: string) => {
    let room = rooms.get(id);
    if (!room) rooms.set(id, (room = new AutomergeRoom(id, { replica, askPeers })));
    return room;
  };
  const leave = (connection: RepoConnection) => {
    if (byPeer.get(connection.peerId) === connection) byPeer.delete(connection.peerId);
    for (const room of rooms.values()) {
      if (room.leave(connection) && rooms.get(room.id) === room) {
        rooms.delete(room.id);
        room.close();
      }
    }
  };
  /** True the first time (sessionId, count) is seen; remembers a bounded number. */
  const firstSeen = (sessionId: string, count: number) => {
    const key = `${sessionId}\u0000${count}`;
    if (seenEphemeral.has(key)) return false;
    seenEphemeral.add(key);
    if (seenEphemeral.size > limits.maxEphemeralIds) seenEphemeral.delete(seenEphemeral.values().next().value!);
    return true;
  };
  const relayLocally = (documentId: string, message: Record<string, unknown>, except?: RepoConnection) => {
    for (const peer of rooms.get(documentId)?.peers ?? []) if (peer !== except) peer.send(message);
  };

  presence?.onMessage("automerge", (documentId, payload) => {
    try {
      const message = decodeRepoMessage(payload);
      if (message.type !== "ephemeral" || message.documentId !== documentId || !firstSeen(message.sessionId, message.count)) return;
      metrics.relayed("automerge", "received");
      const { senderId, sessionId, count, data } = message;
      relayLocally(documentId, { type: "ephemeral", senderId, documentId, sessionId, count, data });
    } catch {
      // A relayed frame that does not decode is dropped: presence is best effort.
    }
  });

  const route: RepoRouteContext = {
    clock: options.clock, metrics, limits, serverPeerId, pings: createPingQueue(options.clock, limits.pingMs),
    joined(c) {
      // The same peer id again: its old socket's sync states are stale (automerge-repo PR#206).
      const old = byPeer.get(c.peerId);
      if (old && old !== c) old.close("replaced", "the same peer connected again");
      byPeer.set(c.peerId, c);
    },
    sync: (c, type, documentId, data) => roomFor(documentId).receive(c, type, data),
    ephemeral(c, message) {
      if (!firstSeen(message.sessionId, message.count)) return;
      const { senderId, documentId, sessionId, count, data } = message;
      const relayed = { type: "ephemeral", senderId, documentId, sessionId, count, data };
      relayLocally(documentId, relayed, c);
      if (presence) {
        presence.publish("automerge", documentId, encodeRepoMessage(relayed));
        metrics.relayed("automerge", "sent");
      }
    },
    closed: leave,
  };

  return {
    protocol: "automerge",
    rooms,
    match: (pathname) => pathname === automergePath || pathname === `${automergePath}/`,
    handle(ws: WebSocket, _request: IncomingMessage, principal: Principal) {
      new RepoConnection(ws, principal, route).start();
    },
  };
}
