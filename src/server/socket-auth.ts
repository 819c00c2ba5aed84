/**
 * Who opened a socket. Stock clients cannot always send headers, so besides
 * `Authorization: Bearer` a token may come in the URL (`?token=`, which is
 * how y-websocket's `params` and automerge-repo's URL carry it) or as a
 * `yauth-<token>` subprotocol (@y/hub's convention). Same tokens and same
 * hashing as HTTP (auth.ts).
 */
import type { IncomingMessage } from "node:http";

export const yauthPrefix = "yauth-";

/** The subprotocols a client offered, in order. */
export function offeredProtocols(request: IncomingMessage): string[] {
  const header = request.headers["sec-websocket-protocol"];
  return (Array.isArray(header) ? header.join(",") : header ?? "").split(",").map((p) => p.trim()).filter((p) => p !== "");
}

/** The token of an upgrade request, from the query, a yauth- subprotocol or the Authorization header. */
export function socketToken(request: IncomingMessage, url: URL): string | undefined {
  const query = url.searchParams.get("token") ?? url.searchParams.get("yauth");
  if (query) return query;
  const sub = offeredProtocols(request).find((p) => p.startsWith(yauthPrefix));
  if (sub) return sub.slice(yauthPrefix.length);
  const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? "");
  return match?.[1];
}
