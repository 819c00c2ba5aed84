/**
 * The errors an engine throws for bad input, built in one place so that the
 * `details.reason` vocabulary is the same for Yjs and Automerge.
 */
import { ConcordError } from "../errors.ts";

/** Why a delta, snapshot or version was rejected. Stable: callers branch on it. */
export const rejectionReasons = [
  "malformed", // does not decode, or decodes to something the engine's own encoder never produces
  "missing_dependencies", // would leave the document waiting for data it does not have
  "too_deep", // nests maps/lists/texts/objects deeper than limits.maxDepth
  "unsupported_content", // decodes, but uses a feature Concord does not replicate (Yjs subdocuments)
  "conflicting_history", // contradicts history the document already holds (Automerge: reused seq or op ids)
  "engine_error", // passed validation but the engine library itself failed
] as const;
export type RejectionReason = (typeof rejectionReasons)[number];

/**
 * A ConcordError("invalid_update") with `details.reason`. `damaged: true` tells
 * the caller the live document must be discarded and reloaded from storage.
 */
export function invalidUpdate(
  reason: RejectionReason,
  message: string,
  options: { cause?: unknown; damaged?: boolean; details?: Record<string, unknown> } = {},
): ConcordError {
  const details: Record<string, unknown> = { ...options.details, reason };
  if (options.damaged === true) details["damaged"] = true;
  return new ConcordError("invalid_update", message, options.cause === undefined ? { details } : { cause: options.cause, details });
}

/** Throws ConcordError("too_large") when `bytes` is over `maxBytes`. */
export function assertWithinSize(bytes: Uint8Array, maxBytes: number, what: string, damaged = false): void {
  if (bytes.length <= maxBytes) return;
  const details: Record<string, unknown> = { sizeBytes: bytes.length, maxBytes };
  if (damaged) details["damaged"] = true;
  throw new ConcordError("too_large", `${what} is ${bytes.length} bytes, over the limit of ${maxBytes}`, { details });
}

/** An edit callback threw. `damaged` says whether it left partial changes behind. */
export function editFailed(cause: unknown, damaged: boolean): ConcordError {
  const details: Record<string, unknown> = { reason: "edit_threw" };
  if (damaged) details["damaged"] = true;
  return new ConcordError("invalid_argument", "the edit function threw", { cause, details });
}
