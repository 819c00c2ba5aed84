/**
 * The sync socket's wire format, shared by the client (src/client) and the
 * region's endpoint (src/server/sync-socket.ts). Every message is one binary
 * WebSocket frame: a 4-byte big-endian header length, a UTF-8 JSON header,
 * then the payload (a delta's bytes, or nothing). Deltas travel as raw bytes,
 * not base64, because catch-up is mostly deltas.
 *
 * A session: the client says which documents (`hello`, with a digest of what
 * it holds of them). Equal sets cost the server one `synced` frame. Otherwise
 * the server lists its versions, the client sends what the server lacks
 * (`delta`) and asks for what it lacks (`want`), then `done`; the server
 * answers in order and ends the round with `synced`. After that, deltas flow
 * both ways as they happen; the server acknowledges each client delta once it
 * is durable there (`ack`, whose token serves read-your-writes reads).
 *
 * Deletions travel like deltas: the client's `delete` is acknowledged once
 * the region's tombstone is durable, and the region tells live clients of a
 * deletion (`deleted`). In a catch-up round the region lists its tombstones
 * of the set; a side holding a tombstone for a document the other holds live
 * wins (tombstones are permanent: a deleted id never comes back), so the
 * client deletes it, or sends its own `delete` for it.
 *
 * Heartbeat: a peer that vanished without closing (a laptop lid, a NAT that
 * forgot the flow) leaves a half-open socket that never errors. The client
 * sends `ping` when it has heard nothing for a while and the server answers
 * `pong` at once (out of order with other answers: it only proves life); the
 * server sends WebSocket ping frames, which browsers answer by themselves.
 * Each side drops a socket that stays silent past its bound.
 */
import { deflateSync, Inflate } from "fflate";
import { lengthPrefixed } from "../storage/bytes.ts";
import { keyedHash } from "../crypto/keyed-hash.ts";
import type { DocKind } from "../doc/engine.ts";
import { ConcordError } from "../errors.ts";

/** Where the socket is, relative to a region's base URL. */
export const syncPath = "/v1/sync";

/** What a client syncs: a list of ids, or every id under a prefix (within the token's own prefix). */
export type DocSet = { ids: string[] } | { prefix: string };

/** One document as a side holds it, for the catch-up round. */
export type DocEntry = { id: string; kind: DocKind; version: string } | { id: string; deleted: true };

export type ClientMessage =
  /** `empty`: the client holds nothing of the set (a fresh device): the region sends every document whole, without listing versions first. */
  | { t: "hello"; docs: DocSet; digest: string; empty?: boolean }
  | { t: "delta"; id: string; kind: DocKind; seq: number }
  | { t: "want"; id: string; version?: string }
  /** A document deleted here: acknowledged like a delta, once the region's tombstone is durable. */
  | { t: "delete"; id: string; seq: number }
  | { t: "done" }
  /** Are you there? Answered with `pong` at once, in any state. */
  | { t: "ping" };

export type ServerMessage =
  | { t: "synced"; region: string }
  | { t: "versions"; docs: DocEntry[] }
  | { t: "delta"; id: string; kind: DocKind }
  /** `token`: the read-your-writes token of the write (none for a deletion). */
  | { t: "ack"; seq: number; id: string; token?: string }
  /** `id` was deleted (anywhere): delete it here too. */
  | { t: "deleted"; id: string }
  /** Many frames at once, deflated (the payload: see packFrames): how a fresh client's catch-up travels. */
  | { t: "batch" }
  | { t: "pong" };

/**
 * Close codes, in the bands stock clients know: 44xx mirror HTTP 4xx and are
 * permanent for this request (the client does not retry the same thing),
 * 45xx are transient. Stable: apps may branch on them.
 */
export const syncCloseCodes = {
  /** A frame that does not decode, or a message out of place. */
  malformed: 4400,
  /** No token, or one this region does not know (or that was revoked). */
  unauthorized: 4401,
  /** The token lacks a scope, or a document is outside its prefix. */
  forbidden: 4403,
  /** A frame over the size limit (ws itself closes with 1009 past its own). */
  tooLarge: 4413,
  /** A delta the replica refused: nothing of it was applied. */
  invalidUpdate: 4422,
  /** Something failed on the region's side. */
  internal: 4500,
  /** The region is shutting down or cannot take writes now: reconnect, here or elsewhere. */
  unavailable: 4503,
  /** The client does not read what it is sent: back off and retry. */
  backPressure: 1013,
} as const;

/** Whether a close code means "do not reconnect with this token" (the app must act). */
export function isPermanentClose(code: number): boolean {
  return code === syncCloseCodes.unauthorized || code === syncCloseCodes.forbidden;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function encodeFrame(header: ClientMessage | ServerMessage, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = encoder.encode(JSON.stringify(header));
  const frame = new Uint8Array(4 + json.length + payload.length);
  new DataView(frame.buffer).setUint32(0, json.length);
  frame.set(json, 4);
  frame.set(payload, 4 + json.length);
  return frame;
}

/** Splits a frame; ConcordError "invalid_argument" when it is not one. The header's shape is checked by its reader. */
export function decodeFrame(frame: Uint8Array): { header: Record<string, unknown>; payload: Uint8Array } {
  if (frame.length < 4) throw new ConcordError("invalid_argument", "a sync frame starts with a 4-byte header length");
  const length = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(0);
  if (length > frame.length - 4) throw new ConcordError("invalid_argument", "a sync frame's header runs past its end");
  let header: unknown;
  try {
    header = JSON.parse(decoder.decode(frame.subarray(4, 4 + length)));
  } catch (cause) {
    throw new ConcordError("invalid_argument", "a sync frame's header is not JSON", { cause });
  }
  if (typeof header !== "object" || header === null || Array.isArray(header) || typeof (header as { t?: unknown }).t !== "string") {
    throw new ConcordError("invalid_argument", "a sync frame's header is an object with a type");
  }
  return { header: header as Record<string, unknown>, payload: frame.subarray(4 + length) };
}

/** Whether `id` belongs to `set`. */
export function inDocSet(set: DocSet, id: string, ids?: ReadonlySet<string>): boolean {
  return "prefix" in set ? id.startsWith(set.prefix) : (ids ?? new Set(set.ids)).has(id);
}

/**
 * A digest of what one side holds of a set: equal digests mean equal live
 * documents at equal versions, so the round ends at once. Tombstones do not
 * count: a document live on one side and deleted (or absent) on the other
 * already makes the digests differ, and a fresh client, which never learns
 * the tombstones of documents it never held, still matches a region that
 * holds them.
 */
export function digestEntries(entries: readonly DocEntry[]): string {
  const lines = entries.flatMap((e) => ("deleted" in e ? [] : [`${e.id}\n${e.kind}\n${e.version}\n`])).sort();
  const hash = keyedHash(null, `concord/sync-digest\n${lines.join("")}`, 16);
  let hex = "";
  for (const byte of hash) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

/** Frames packed into one deflated payload: each a 4-byte length and the frame. */
export function packFrames(frames: readonly Uint8Array[]): Uint8Array {
  return deflateSync(lengthPrefixed(frames), { level: 6 });
}

/**
 * Inflates `payload`, refusing ("too_large") as soon as the output passes `maxBytes`: fed 1 KiB of input at a time,
 * a bomb costs at most about a megabyte past the limit (deflate's ratio is at most ~1,032:1), never its full size.
 */
function inflateWithin(payload: Uint8Array, maxBytes: number): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const tooLarge = new ConcordError("too_large", "a batch inflates past its limit");
  const inflater = new Inflate((chunk) => {
    total += chunk.length;
    if (total > maxBytes) throw tooLarge;
    chunks.push(chunk);
  });
  try {
    for (let at = 0; at < payload.length || at === 0; at += 1024) inflater.push(payload.subarray(at, at + 1024), at + 1024 >= payload.length);
  } catch (cause) {
    if (cause === tooLarge) throw tooLarge;
    throw new ConcordError("invalid_argument", "a batch does not inflate", { cause });
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** The frames of a batch payload; ConcordError "invalid_argument" when it is not one. */
export function unpackFrames(payload: Uint8Array, maxBytes = 256 << 20): Uint8Array[] {
  const bytes = inflateWithin(payload, maxBytes);
  const frames: Uint8Array[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 0; at < bytes.length;) {
    if (at + 4 > bytes.length) throw new ConcordError("invalid_argument", "a batch is cut short");
    const length = view.getUint32(at);
    if (at + 4 + length > bytes.length) throw new ConcordError("invalid_argument", "a batch frame runs past its end");
    frames.push(bytes.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return frames;
}
