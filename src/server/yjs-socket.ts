/**
 * The y-websocket protocol at `/v1/yjs/:doc`, so a stock `WebsocketProvider`
 * works unchanged:
 *
 *   new WebsocketProvider("ws://HOST/v1/yjs", docId, ydoc, { params: { token } })
 *
 * Every update a socket sends goes through `replica.update` (validated, group
 * committed, gossiped). The room's replica subscription relays every change
 * of the document to its other sockets as soon as it is applied here, whether
 * it was made by a socket, over HTTP or in another region, without waiting
 * for the disk (a client that saw an edit this region then lost in a crash
 * hands it back on its next sync, as with y-websocket's own server); the
 * sender gets its update echoed once it is durable (y-websocket 4's sync
 * status waits for that echo, so it means "stored"). A read-only token's updates are
 * dropped (one "permission denied" auth message says so) while its sync step
 * 1 is still answered. A socket opening a missing document creates it when
 * its token may write. Messages of one socket are handled in order; what
 * waits behind a slow write is bounded (1013 beyond). See
 * socket-close-codes.ts for how each failure closes a socket.
 */
import type { IncomingMessage } from "node:http";
import type { WebSocket } from "ws";
import type { Replica } from "../replica/replica.ts";
import type { Clock } from "../runtime/clock.ts";
import type { Principal } from "./auth.ts";
import type { SocketMetrics } from "./socket-metrics.ts";
import type { SocketRoute } from "./socket-upgrade.ts";
import { closeCodes } from "./socket-close-codes.ts";
import { updateMessage as updateFor } from "./yjs-socket-codec.ts";
import { YjsRoom } from "./yjs-socket-room.ts";
import { createKeepAliveQueue, YjsConnection, type YjsConnectionLimits, type YjsRouteContext } from "./yjs-connection.ts";
import { createPingQueue } from "./socket-pings.ts";
import type { PresenceRelay } from "./presence-relay.ts";

export type YjsReplicaPort = Pick<Replica, "update" | "diff" | "head" | "create" | "subscribe">;

export interface YjsSocketOptions {
  replica: YjsReplicaPort;
  clock: Clock;
  metrics: SocketMetrics;
  /** Relays awareness to the other regions' sockets of the same document. */
  presence?: PresenceRelay;
  limits?: Partial<YjsConnectionLimits>;
}

export const yjsPathPrefix = "/v1/yjs/";

export const defaultYjsLimits: YjsConnectionLimits = {
  maxMessageBytes: 8 * 1024 * 1024,
  maxQueuedMessages: 256,
  maxQueuedBytes: 16 * 1024 * 1024,
  maxBufferedBytes: 32 * 1024 * 1024,
  messagesPerSecond: 200,
  messageBurst: 1000,
  // Under the client's 30 s: real providers renew awareness every 15 s and get it echoed, so this fires only for lone quiet ones.
  keepAliveMs: 20_000,
  pingMs: 30_000,
  presenceTtlMs: 30_000,
};

export interface YjsSocketRoute extends SocketRoute {
  /** Open rooms (documents with a socket here). */
  readonly rooms: ReadonlyMap<string, YjsRoom>;
}

/** The route to register with registerSocketRoute. */
export function yjsSocketRoute(options: YjsSocketOptions): YjsSocketRoute {
  const limits = { ...defaultYjsLimits, ...options.limits };
  const rooms = new Map<string, YjsRoom>();
  const { replica, clock, metrics, presence } = options;
  const route: YjsRouteContext = {
    replica, clock, metrics, limits, presence, roomFor: (id) => roomFor(id), leaveRoom: (room) => leaveRoom(room),
    keepAlives: createKeepAliveQueue(clock, limits.keepAliveMs),
    pings: createPingQueue(clock, limits.pingMs),
  };

  const roomFor = (id: string): YjsRoom => {
    let room = rooms.get(id);
    if (!room) {
      const unsubscribe = replica.subscribe(id, (change) => room!.relay(change.delta, updateFor(change.delta)), { when: "applied" });
      room = new YjsRoom(id, unsubscribe);
      rooms.set(id, room);
    }
    return room;
  };
  const leaveRoom = (room: YjsRoom) => {
    if (!room.empty || rooms.get(room.id) !== room) return;
    rooms.delete(room.id);
    room.close();
  };
  presence?.onMessage("yjs", (docId, payload) => {
    const room = rooms.get(docId);
    if (!room) return;
    metrics.relayed("yjs", "received");
    room.applyRemoteAwareness(payload, clock.now() + limits.presenceTtlMs);
  });

  return {
    protocol: "yjs",
    rooms,
    match: (pathname) => pathname.startsWith(yjsPathPrefix) && pathname.length > yjsPathPrefix.length,
    handle(ws: WebSocket, request: IncomingMessage, principal: Principal) {
      const path = new URL(request.url ?? "/", "http://socket.invalid").pathname;
      let id: string;
      try {
        id = decodeURIComponent(path.slice(yjsPathPrefix.length));
      } catch {
        metrics.rejected("yjs", "bad_path");
        return ws.close(closeCodes.malformed, "the document id is not valid percent-encoding");
      }
      if (!principal.scopes.has("read") || !id.startsWith(principal.prefix)) {
        metrics.rejected("yjs", "forbidden");
        return ws.close(closeCodes.forbidden, "this token may not read this document");
      }
      new YjsConnection(ws, id, principal.scopes.has("write"), route).start();
    },
  };
}
