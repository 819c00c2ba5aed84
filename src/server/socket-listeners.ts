/**
 * One set of socket listeners shared by every connection of a protocol, each
 * finding its connection through the socket, instead of three closures per
 * socket (idle sockets' memory: see test/bench/stock-sockets.bench.ts).
 */
import type { WebSocket } from "ws";

export interface ListeningConnection {
  receive(data: Buffer, isBinary: boolean): void;
  teardown(): void;
  awaitingPong: boolean;
}

const connectionOf = new WeakMap<WebSocket, ListeningConnection>();

function onMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  connectionOf.get(this)?.receive(data, isBinary);
}
function onPong(this: WebSocket): void {
  const connection = connectionOf.get(this);
  if (connection) connection.awaitingPong = false;
}
function onClose(this: WebSocket): void {
  connectionOf.get(this)?.teardown();
}

/** Routes `ws`'s messages, pongs and close to `connection`. */
export function listenTo(ws: WebSocket, connection: ListeningConnection): void {
  connectionOf.set(ws, connection);
  ws.on("message", onMessage);
  ws.on("pong", onPong);
  ws.on("close", onClose); // "close" comes once; `once` would wrap the shared listener per socket
}
