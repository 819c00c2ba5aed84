/**
 * Which web pages may open a socket on this region. A browser sends the page's
 * Origin with every WebSocket handshake and, unlike fetch, applies no CORS to
 * it: without a check, any site a user visits could open a socket with
 * credentials the page holds. So an upgrade is allowed when:
 * - it has no Origin header (not a browser: Node, native apps, other regions);
 * - the Origin's host is the request's Host (a page served by this region, or
 *   by the same name in front of it); or
 * - the Origin is in the allow-list (`--allow-origins`, `$CONCORD_ALLOW_ORIGINS`,
 *   or `startRegion({ sockets: { upgrades: { allowedOrigins } } })`), where
 *   "*" allows every origin.
 * Anything else gets HTTP 403 before a WebSocket exists.
 */
import type { IncomingMessage } from "node:http";
import { ConcordError } from "../errors.ts";

/** The origins a region accepts besides same-origin ones, normalized; "*" for any. */
export type OriginAllowList = ReadonlySet<string>;

/** Parses a comma-separated list ("https://app.example, http://localhost:5173" or "*"); ConcordError invalid_argument on a malformed entry. */
export function parseOriginList(text: string): string[] {
  return text.split(",").map((s) => s.trim()).filter((s) => s !== "").map(normalizeOrigin);
}

/** An origin as browsers send it: scheme://host[:port], no path, default port left out. */
export function normalizeOrigin(origin: string): string {
  if (origin === "*") return origin;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    throw new ConcordError("invalid_argument", `an allowed origin is scheme://host[:port] or * (got ${JSON.stringify(origin)})`);
  }
  if (url.origin === "null" || url.pathname !== "/" || url.search !== "" || url.hash !== "") {
    throw new ConcordError("invalid_argument", `an allowed origin is scheme://host[:port], without a path (got ${JSON.stringify(origin)})`);
  }
  return url.origin;
}

/** Whether the handshake `request` may become a socket. */
export function originAllowed(request: IncomingMessage, allowed: OriginAllowList): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  if (allowed.has("*")) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false; // "null" (a sandboxed page, a file:) or garbage: not a page we can vouch for
  }
  if (url.origin === "null") return false;
  if (request.headers.host !== undefined && url.host === request.headers.host.toLowerCase()) return true;
  return allowed.has(url.origin);
}
