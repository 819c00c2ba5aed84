/**
 * The one error type Concord throws for expected failures. Programmer errors
 * (broken invariants) are plain assertion failures instead; see `assert`.
 */

/** Stable machine-readable codes. Never renamed once released: clients branch on them. */
export const errorCodes = [
  "invalid_update", // a delta or snapshot that does not decode, is hostile, or would leave the document waiting
  "too_large", // a delta, body or frame over its size limit
  "invalid_argument", // a bad id, option or parameter
  "exists", // create() of a document that is already there
  "not_found", // a document that is not there
  "deleted", // a document that was shredded; it can never come back
  "corrupt_record", // a stored record that fails authentication or does not decode
  "quarantined", // a document that crashed its engine again and again; refused until an operator repairs or releases it
  "wrong_key", // the master key does not open this data directory
  "key_missing", // no master key was given or found
  "closed", // the replica or store was closed
  "not_caught_up", // a read-your-writes token this region has not reached yet
  "precondition_failed", // a conditional write (ifVersion, If-Match) whose document is no longer at that version here (details: etag, version)
  "conflict", // a conditional store write whose expected values changed (another process wrote first); nothing was written (details: keys)
  "timeout", // an operation that did not finish within its timeoutMs
  "unavailable", // a peer or resource that cannot be reached now
  "storage_full", // the store refused a write for lack of space (a browser's quota, a full disk); nothing was written
  "locked", // a data directory another live process holds (details: pid, host, lockFile)
  "unknown_peer", // a frame from a sender not in the topology
  "bad_frame", // a frame that is truncated, forged, replayed or of an unsupported version
  "unsupported", // a file or archive format newer than this build reads
  "unauthorized",
  "forbidden",
  "rate_limited",
  "internal",
] as const;

export type ErrorCode = (typeof errorCodes)[number];

export class ConcordError extends Error {
  override readonly name = "ConcordError";
  readonly code: ErrorCode;
  /** Extra machine-readable facts, e.g. `{ reason: "missing_dependencies" }`. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }
}

export function isConcordError(error: unknown, code?: ErrorCode): error is ConcordError {
  return error instanceof ConcordError && (code === undefined || error.code === code);
}

/** Programmer-error check: a failure here is a bug in Concord, never bad input. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}
