/**
 * What a region answers to a request frame its secure channel refused. Most
 * refusals get an empty answer: the sender learns nothing it could use
 * against us. Three get a sealed, authenticated refusal the sender can act on
 * (each refused only after the frame's MAC passed, so only a real peer, or a
 * replay of its frame, ever gets one):
 *
 * - "unsupported_version": which versions this region speaks, so a newer
 *   peer can step down;
 * - "replayed": the highest counter accepted from the sender, so a region
 *   whose counters another process (a second one on its data directory, a
 *   restore) has used up skips past them instead of being refused forever.
 *   The frame was authenticated before it was called a replay, and the
 *   refusal answers exactly its counter (replyTo), so an attacker can neither
 *   ask for one nor replay one to another request;
 * - "stale_epoch": a request made for another boot of this region. Like
 *   every frame, the refusal's body carries this region's current epoch,
 *   which the sender learns (and sends the request again).
 */
import { isConcordError } from "../errors.ts";
import { readHeader, type FrameHeader, type FrameRejection } from "./frame.ts";
import { encodeResponse } from "./messages.ts";
import type { SecureChannel } from "./secure-channel.ts";

/** A refused frame, for logs: the claimed sender ("?" when unparseable), why, and the channel's message. */
export interface FrameRejectionEvent {
  peer: string;
  reason: FrameRejection;
  message: string;
}

export function rejectionOf(channel: SecureChannel, frame: Uint8Array, error: unknown): FrameRejectionEvent {
  const reason = (isConcordError(error) ? error.details.reason : undefined) as FrameRejection | undefined;
  let header: FrameHeader | undefined;
  try {
    header = readHeader(frame, channel.maxFrameBytes).header;
  } catch {
    // Unparseable: no sender to name.
  }
  return { peer: header?.sender ?? "?", reason: reason ?? "unexpected", message: error instanceof Error ? error.message : String(error) };
}

/** The answer frame for a refused request: a sealed refusal, or empty bytes. */
export function answerRefused(channel: SecureChannel, frame: Uint8Array, rejection: FrameRejectionEvent): Uint8Array {
  if (rejection.reason !== "unsupported_version" && rejection.reason !== "replayed" && rejection.reason !== "stale_epoch") return new Uint8Array(0);
  const { header } = readHeader(frame, channel.maxFrameBytes);
  const highestSeen = rejection.reason === "replayed" ? channel.highestSeen(header.sender, header) : undefined;
  const refusal = encodeResponse({ type: "refused", code: rejection.reason, message: rejection.message, ...(highestSeen !== undefined ? { highestSeen } : {}) });
  // In the refused frame's own version, which the sender surely reads; a version we do not speak gets our default.
  return channel.seal(header.sender, "refusal", refusal, header.counter, header.version).frame;
}
