/**
 * ConcordError → HTTP: every error leaves the server as
 * `{ "error": { "code", "message" } }` with a status that fits its code, so
 * clients branch on the stable code and proxies on the status.
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ConcordError, isConcordError, type ErrorCode } from "../errors.ts";

const statusByCode: Record<ErrorCode, ContentfulStatusCode> = {
  invalid_update: 400,
  invalid_argument: 400,
  bad_frame: 400,
  unknown_peer: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  exists: 409,
  not_caught_up: 409,
  precondition_failed: 412,
  // A store write raced another process; the replica retries it, so a client sees this only once retries ran out.
  conflict: 503,
  deleted: 410,
  too_large: 413,
  unsupported: 415,
  rate_limited: 429,
  timeout: 504,
  closed: 503,
  unavailable: 503,
  locked: 503,
  storage_full: 507,
  key_missing: 500,
  wrong_key: 500,
  corrupt_record: 500,
  // Not 503: retrying does not help, an operator must act (see src/replica/doc-quarantine.ts).
  quarantined: 500,
  internal: 500,
};

/** The HTTP status for an error code. */
export function httpStatus(code: ErrorCode): ContentfulStatusCode {
  return statusByCode[code];
}

/**
 * An edit callback's own ConcordError comes back wrapped by the engine
 * ("the edit function threw"); the client should see the inner one.
 */
function unwrap(error: unknown): unknown {
  if (isConcordError(error) && error.details.reason === "edit_threw" && isConcordError(error.cause)) return error.cause;
  return error;
}

/** Renders any thrown value as the JSON error response. Unexpected errors become 500 "internal" without details. */
export function errorResponse(c: Context, thrown: unknown): Response {
  const error = unwrap(thrown);
  if (!isConcordError(error)) {
    return c.json({ error: { code: "internal", message: "internal error" } }, 500);
  }
  const retryAfterMs = error.details.retryAfterMs;
  if (typeof retryAfterMs === "number") c.header("Retry-After", String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
  // A failed condition tells the client where the document is now, so it can merge and retry without a read.
  const etag = error.code === "precondition_failed" && typeof error.details.etag === "string" ? error.details.etag : undefined;
  if (etag !== undefined) c.header("ETag", `"${etag}"`);
  // A delta sequence's failure says which delta failed and how many were written (delta-sequence.ts).
  const { index, written } = error.details;
  const position = typeof index === "number" && typeof written === "number" ? { index, written } : {};
  return c.json({ error: { code: error.code, message: error.message, ...(etag !== undefined ? { etag } : {}), ...position } }, httpStatus(error.code));
}

/** Shorthand for throwing a typed error from a handler. */
export function fail(code: ErrorCode, message: string, details?: Record<string, unknown>): never {
  throw new ConcordError(code, message, details ? { details } : {});
}
