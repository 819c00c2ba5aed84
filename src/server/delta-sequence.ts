/**
 * Many binary deltas of one document in one request body, so a writer that
 * replays an editing history does not pay one HTTP round trip per keystroke:
 *
 *   Content-Type: application/vnd.concord.deltas
 *   body = (length u32 big-endian · delta) repeated, at most maxSequenceDeltas
 *
 * The whole body is decoded before anything is applied: bad framing changes
 * nothing. The deltas are then written in order, pipelined (each durable,
 * group commits sharing the fsyncs), exactly as if sent one per request.
 */
import { ConcordError } from "../errors.ts";
import { lengthPrefixed } from "../storage/bytes.ts";

export const deltaSequenceType = "application/vnd.concord.deltas";
/** Most deltas one request carries: bounds the acks one request waits for. */
export const maxSequenceDeltas = 10_000;

export function isDeltaSequence(contentType: string | undefined): boolean {
  return contentType?.split(";")[0]?.trim().toLowerCase() === deltaSequenceType;
}

export function encodeDeltaSequence(deltas: readonly Uint8Array[]): Uint8Array {
  return lengthPrefixed(deltas);
}

/** The deltas of a body; ConcordError "invalid_update" for bad framing or an empty delta, "too_large" past the count. */
export function decodeDeltaSequence(body: Uint8Array): Uint8Array[] {
  const deltas: Uint8Array[] = [];
  const view = new DataView(body.buffer, body.byteOffset, body.length);
  for (let at = 0; at < body.length;) {
    if (at + 4 > body.length) throw bad(`delta ${deltas.length} is cut short before its length`);
    const length = view.getUint32(at);
    if (length === 0) throw bad(`delta ${deltas.length} is empty`);
    if (at + 4 + length > body.length) throw bad(`delta ${deltas.length} runs past the end of the body`);
    if (deltas.length === maxSequenceDeltas) throw new ConcordError("too_large", `a request carries at most ${maxSequenceDeltas} deltas`);
    deltas.push(body.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  if (deltas.length === 0) throw bad("the body holds no delta");
  return deltas;
}

const bad = (message: string) => new ConcordError("invalid_update", `${deltaSequenceType}: ${message} (each delta is a u32 big-endian length, then its bytes)`);
