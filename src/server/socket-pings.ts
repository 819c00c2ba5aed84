/**
 * WebSocket pings of a route's sockets on one shared DeadlineQueue: every
 * `pingMs` a socket is pinged, and a socket that has not answered the
 * previous ping by then is terminated. Same times as a ping timer per socket,
 * without a Timeout and closure per socket.
 */
import type { WebSocket } from "ws";
import type { Clock } from "../runtime/clock.ts";
import { DeadlineQueue } from "./deadline-queue.ts";

/** What the ping queue needs of a connection: its socket, and whether a pong is owed (cleared by the connection's pong handler). */
export interface PingedSocket {
  readonly ws: WebSocket;
  awaitingPong: boolean;
}

/** Touch a socket once when it opens; remove it when it closes. */
export function createPingQueue(clock: Clock, pingMs: number): DeadlineQueue<PingedSocket> {
  const queue = new DeadlineQueue<PingedSocket>(clock, pingMs, (socket) => {
    if (socket.awaitingPong) return socket.ws.terminate();
    socket.awaitingPong = true;
    socket.ws.ping();
    queue.touch(socket);
  });
  return queue;
}
