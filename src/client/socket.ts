/**
 * The WebSocket the client needs, as the browser defines it: browsers and
 * Node 22+ have one global; on Node 20 pass the `ws` package's class
 * (`connect(replica, { WebSocket })`), which has the same interface.
 */
import { ConcordError } from "../errors.ts";
import { syncPath } from "./protocol.ts";

export interface SocketLike {
  binaryType: string;
  readonly bufferedAmount: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string) => SocketLike;

export function defaultWebSocket(): WebSocketConstructor {
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (global) return global;
  throw new ConcordError("invalid_argument", 'this runtime has no global WebSocket (Node 20): pass one, connect(replica, { WebSocket }) with `import { WebSocket } from "ws"`');
}

/**
 * The socket URL of a region: its HTTP base URL with ws(s): and the sync
 * path. The token goes in the query because browsers cannot send headers on
 * a WebSocket; regions do not log socket URLs.
 */
export function socketUrl(region: string, token: string | undefined): string {
  const url = new URL(region);
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new ConcordError("invalid_argument", `a region URL is http(s)://host:port (got ${region})`);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.pathname = url.pathname.replace(/\/$/, "") + syncPath;
  if (token !== undefined) url.searchParams.set("token", token);
  return url.toString();
}

/** A message's bytes, whatever the runtime hands over (ArrayBuffer in browsers, Buffer from ws). */
export function messageBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}
