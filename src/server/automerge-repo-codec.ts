/**
 * automerge-repo's network messages (protocol "1", as
 * @automerge/automerge-repo-network-websocket 2.x sends them): one CBOR map
 * per binary frame, text keys, byte strings for binary fields (cbor-x with
 * tagUint8Array and records off, like the stock adapter). decodeRepoMessage
 * checks the shape of what we act on; anything that is not a CBOR map with a
 * string `type` is ConcordError "invalid_update" (reason "malformed").
 */
import { Encoder } from "cbor-x";
import { invalidUpdate } from "../doc/engine-errors.ts";

const cbor = new Encoder({ tagUint8Array: false, useRecords: false, mapsAsObjects: true });

export const protocolVersion = "1";

export type RepoMessage =
  | { type: "join"; senderId: string; peerMetadata: Record<string, unknown>; supportedProtocolVersions: string[] }
  | { type: "sync" | "request"; senderId: string; documentId: string; data: Uint8Array }
  | { type: "ephemeral"; senderId: string; documentId: string; sessionId: string; count: number; data: Uint8Array }
  | { type: "other"; messageType: string };

const malformed = (why: string) => invalidUpdate("malformed", `automerge-repo message: ${why}`);
const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;
const isString = (v: unknown): v is string => typeof v === "string" && v.length > 0 && v.length <= 1024;

export function decodeRepoMessage(frame: Uint8Array): RepoMessage {
  let raw: unknown;
  try {
    raw = cbor.decode(frame);
  } catch {
    throw malformed("not CBOR");
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw) || isBytes(raw)) throw malformed("not a map");
  const m = raw as Record<string, unknown>;
  if (!isString(m.type)) throw malformed("no type");
  switch (m.type) {
    case "join": {
      const versions = m.supportedProtocolVersions;
      if (!isString(m.senderId) || !Array.isArray(versions)) throw malformed("join without senderId or supportedProtocolVersions");
      // The package README's CDDL says `metadata`, the code sends `peerMetadata`: take either.
      const metadata = (m.peerMetadata ?? m.metadata ?? {}) as Record<string, unknown>;
      return { type: "join", senderId: m.senderId, peerMetadata: metadata, supportedProtocolVersions: versions.filter(isString) };
    }
    case "sync":
    case "request":
      if (!isString(m.senderId) || !isString(m.documentId) || !isBytes(m.data)) throw malformed(`${m.type} without senderId, documentId or data`);
      return { type: m.type, senderId: m.senderId, documentId: m.documentId, data: m.data };
    case "ephemeral":
      if (!isString(m.senderId) || !isString(m.documentId) || !isString(m.sessionId) || !Number.isSafeInteger(m.count) || !isBytes(m.data)) {
        throw malformed("ephemeral without senderId, documentId, sessionId, count or data");
      }
      return { type: "ephemeral", senderId: m.senderId, documentId: m.documentId, sessionId: m.sessionId, count: m.count as number, data: m.data };
    default:
      return { type: "other", messageType: m.type };
  }
}

export function encodeRepoMessage(message: Record<string, unknown>): Uint8Array {
  return cbor.encode(message);
}
