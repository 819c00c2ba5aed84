/**
 * The y-websocket wire format (y-protocols sync / awareness / auth), as pure
 * functions. Frames in may hold several messages back to back (y-websocket 4
 * sends them so); frames out hold one each (y-websocket 3 reads only one).
 * Every read is bounds-checked: a truncated varint or a length past the end
 * is ConcordError "invalid_update" (reason "malformed"), never a RangeError.
 *
 *   message  = varUint(type) • payload
 *   0 sync   = varUint(0 step 1 | 1 step 2 | 2 update) • varUint8Array(data)
 *   1 awareness = varUint8Array(count • count × (client • clock • varString(JSON)))
 *   2 auth   = varUint(0 denied) • varString(reason)      (server → client)
 *   3 query-awareness = (empty)
 */
import * as encoding from "lib0/encoding";
import { ByteReader, malformed } from "../doc/byte-reader.ts";

export const messageType = { sync: 0, awareness: 1, auth: 2, queryAwareness: 3 } as const;
const syncType = { step1: 0, step2: 1, update: 2 } as const;

export type YjsMessage =
  | { type: "sync-step1"; stateVector: Uint8Array }
  | { type: "sync-step2"; update: Uint8Array }
  | { type: "update"; update: Uint8Array }
  | { type: "awareness"; update: Uint8Array }
  | { type: "auth" }
  | { type: "query-awareness" }
  /** A type we do not know (y-sweet's 102, say): its payload format is unknown, so it ends the frame. */
  | { type: "unknown"; messageType: number; bytes: Uint8Array };

/** One awareness entry; `state` is its JSON text ("null" when the client left). */
export interface AwarenessEntry {
  clientId: number;
  clock: number;
  state: string;
}

/** Every message of one frame, in order. Throws "malformed" for bytes that do not decode. */
export function decodeYjsFrame(frame: Uint8Array): YjsMessage[] {
  const reader = new ByteReader(frame);
  const messages: YjsMessage[] = [];
  while (reader.remaining > 0) {
    const start = reader.pos;
    const type = reader.varUint();
    if (type === messageType.sync) {
      const sub = reader.varUint();
      const data = reader.varBytes();
      if (sub === syncType.step1) messages.push({ type: "sync-step1", stateVector: data });
      else if (sub === syncType.step2) messages.push({ type: "sync-step2", update: data });
      else if (sub === syncType.update) messages.push({ type: "update", update: data });
      else malformed(`unknown sync message type ${sub}`);
    } else if (type === messageType.awareness) {
      messages.push({ type: "awareness", update: reader.varBytes() });
    } else if (type === messageType.auth) {
      reader.varUint();
      reader.string();
      messages.push({ type: "auth" });
    } else if (type === messageType.queryAwareness) {
      messages.push({ type: "query-awareness" });
    } else {
      messages.push({ type: "unknown", messageType: type, bytes: frame.subarray(start) });
      break;
    }
  }
  return messages;
}

/** The entries of an awareness update; each state must be JSON (a hostile one would throw in every client). */
export function decodeAwareness(update: Uint8Array): AwarenessEntry[] {
  const reader = new ByteReader(update);
  const count = reader.count();
  const entries: AwarenessEntry[] = [];
  for (let i = 0; i < count; i++) {
    const clientId = reader.varUint();
    const clock = reader.varUint();
    const state = reader.string();
    try {
      JSON.parse(state);
    } catch {
      malformed("an awareness state is not JSON");
    }
    entries.push({ clientId, clock, state });
  }
  if (reader.remaining !== 0) malformed("trailing bytes after an awareness update");
  return entries;
}

export function encodeAwareness(entries: readonly AwarenessEntry[]): Uint8Array {
  const inner = encoding.createEncoder();
  encoding.writeVarUint(inner, entries.length);
  for (const e of entries) {
    encoding.writeVarUint(inner, e.clientId);
    encoding.writeVarUint(inner, e.clock);
    encoding.writeVarString(inner, e.state);
  }
  return encoding.toUint8Array(inner);
}

const message = (write: (e: encoding.Encoder) => void): Uint8Array => {
  const e = encoding.createEncoder();
  write(e);
  return encoding.toUint8Array(e);
};

const sync = (sub: number, data: Uint8Array) => message((e) => {
  encoding.writeVarUint(e, messageType.sync);
  encoding.writeVarUint(e, sub);
  encoding.writeVarUint8Array(e, data);
});

export const syncStep1Message = (stateVector: Uint8Array) => sync(syncType.step1, stateVector);
export const syncStep2Message = (update: Uint8Array) => sync(syncType.step2, update);
export const updateMessage = (update: Uint8Array) => sync(syncType.update, update);

/** A whole awareness update (from encodeAwareness) as a message. */
export const awarenessMessage = (update: Uint8Array) => message((e) => {
  encoding.writeVarUint(e, messageType.awareness);
  encoding.writeVarUint8Array(e, update);
});

/** Auth "permission denied": y-websocket logs the reason; sent once to a read-only socket that tried to write. */
export const permissionDeniedMessage = (reason: string) => message((e) => {
  encoding.writeVarUint(e, messageType.auth);
  encoding.writeVarUint(e, 0);
  encoding.writeVarString(e, reason);
});

/**
 * Keeps a quiet socket open: a stock client closes after 30 s without a
 * message. An awareness update with no entries changes nothing in any client.
 */
export const keepAliveMessage = awarenessMessage(encodeAwareness([]));
