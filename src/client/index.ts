/**
 * `concord/client`: the sync client for an embedded replica (browser or
 * Node). See connect.ts, and the README's "Offline apps".
 */
export { connect } from "./connect.ts";
export type { ConnectOptions, SyncClient } from "./connect.ts";
export type { SyncEventName, SyncEvents, SyncState, SyncStatus } from "./events.ts";
export type { BackoffOptions } from "./backoff.ts";
export type { SocketLike, WebSocketConstructor } from "./socket.ts";
export { isPermanentClose, syncCloseCodes, syncPath } from "./protocol.ts";
export type { DocSet } from "./protocol.ts";
