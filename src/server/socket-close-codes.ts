/**
 * WebSocket close codes for the stock-protocol sockets, in @y/hub's bands:
 * 4400-4499 mirror HTTP 4xx and are permanent (y-websocket 3.1's default
 * shouldReconnect stops on them), 4500-4599 are transient ("try again
 * later"), and 1013 is back-pressure. Stable: clients may branch on them.
 */
import { isConcordError } from "../errors.ts";

export const closeCodes = {
  /** A frame that does not decode (truncated varint, length past the end, not CBOR). */
  malformed: 4400,
  /** No token, or a token this region does not know. */
  unauthorized: 4401,
  /** The token lacks a scope, or the document is outside its prefix. */
  forbidden: 4403,
  /** The document does not exist and this token may not create it, or it was deleted. */
  notFound: 4404,
  /** The document exists with the other engine (a Yjs socket on an Automerge document, say). */
  wrongKind: 4409,
  /** A message over the size limit. */
  tooLarge: 4413,
  /** An update the replica refused (it does not decode, or would leave the document waiting for missing parts). */
  invalidUpdate: 4422,
  /** Something failed on our side. */
  internal: 4500,
  /** The region is shutting down or cannot reach its store: reconnect, here or elsewhere. */
  unavailable: 4503,
  /** More messages per second than a socket may send. */
  rateLimited: 4529,
  /** Too many sockets on this region, or too much queued on this one: back off and retry. */
  backPressure: 1013,
} as const;

export type CloseReason = keyof typeof closeCodes;

const reasonsByCode: Partial<Record<string, CloseReason>> = {
  invalid_update: "invalidUpdate", too_large: "tooLarge", forbidden: "forbidden", unauthorized: "unauthorized",
  not_found: "notFound", deleted: "notFound", invalid_argument: "malformed", closed: "unavailable", unavailable: "unavailable",
  storage_full: "unavailable", timeout: "unavailable",
};

/** The close reason for an error a socket's work threw: its ConcordError code's, else "internal". */
export function closeReasonOf(error: unknown): CloseReason {
  if (!isConcordError(error)) return "internal";
  if (error.code === "invalid_update" && error.details.reason === "malformed") return "malformed";
  return reasonsByCode[error.code] ?? "internal";
}
