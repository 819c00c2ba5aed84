/**
 * Gossip messages: the plaintext inside a frame. A compact binary codec on
 * lib0's varints. Decoding untrusted bytes throws ConcordError("bad_frame");
 * nothing else escapes.
 *
 *   push       origin's durable writes, in origin order        → pushAck (a status per entry)
 *   heartbeat  liveness                                         → heartbeatAck
 *   tree       my digests of some nodes                         → per node: equal, its children, or its entries
 *   sync       my versions of some documents                    → per document: your diff and my version
 */
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import type { DocKind } from "../doc/engine.ts";
import { ConcordError } from "../errors.ts";
import type { NodeDigest } from "./digest-tree.ts";

export type PushEntry =
  | { id: string; kind: DocKind; delta: Uint8Array }
  | { id: string; deleted: true };

/**
 * What a receiver did with a pushed entry. Only "persisted" counts toward
 * durability. "rejected": the entry is invalid (never retried); "failed": the
 * document cannot be written there (a corrupt record), so the entry is
 * dropped like a rejected one and the document left to anti-entropy.
 */
export const pushStatuses = ["persisted", "buffered", "rejected", "failed"] as const;
export type PushStatus = (typeof pushStatuses)[number];

/**
 * Statuses on the wire: protocol 1 speaks only the first three. A sender
 * treats "failed" exactly like "rejected" (drops the entry, leaves the
 * document to anti-entropy), so "failed" stays a local statistic and travels
 * as "rejected": regions on older code keep decoding every reply.
 */
const wireStatuses = ["persisted", "buffered", "rejected"] as const;
const toWire = (status: PushStatus): number => wireStatuses.indexOf(status === "failed" ? "rejected" : status);

export type DocState =
  | { state: "absent" }
  | { state: "deleted" }
  | { state: "present"; kind: DocKind; version: Uint8Array };

export type TreeAnswer =
  | { path: string; answer: "equal" }
  | { path: string; answer: "children"; children: NodeDigest[] }
  | { path: string; answer: "entries"; entries: Array<[string, Uint8Array]> };

export type Request =
  | { type: "push"; entries: PushEntry[] }
  | { type: "heartbeat" }
  | { type: "tree"; nodes: Array<{ path: string } & NodeDigest> }
  | { type: "sync"; docs: Array<{ id: string } & DocState> };

export type Response =
  | { type: "pushAck"; statuses: PushStatus[] }
  | { type: "heartbeatAck" }
  | { type: "treeAnswer"; answers: TreeAnswer[] }
  | { type: "syncAnswer"; docs: Array<{ id: string; diff?: Uint8Array } & DocState> }
  /**
   * `highestSeen`: with code "replayed", the highest counter the refusing side
   * accepted from the sender, so that it can skip past it. Encoded after the
   * message, which protocol-1 decoders that predate it never read.
   */
  | { type: "refused"; code: string; message: string; highestSeen?: bigint };

const kinds: DocKind[] = ["yjs", "automerge"];
const requestTypes = ["push", "heartbeat", "tree", "sync"] as const;
const responseTypes = ["pushAck", "heartbeatAck", "treeAnswer", "syncAnswer", "refused"] as const;
const docStates = ["absent", "deleted", "present"] as const;
const treeAnswers = ["equal", "children", "entries"] as const;

function pick<T>(list: readonly T[], index: number, what: string): T {
  const value = list[index];
  if (value === undefined) throw new ConcordError("bad_frame", `unknown ${what} ${index}`, { details: { reason: "unexpected" } });
  return value;
}

function writeDigest(e: encoding.Encoder, d: NodeDigest) {
  encoding.writeVarUint8Array(e, d.hash);
  encoding.writeVarUint(e, d.count);
}
const readDigest = (d: decoding.Decoder): NodeDigest => ({ hash: decoding.readVarUint8Array(d), count: decoding.readVarUint(d) });

function writeDocState(e: encoding.Encoder, s: DocState) {
  encoding.writeVarUint(e, docStates.indexOf(s.state));
  if (s.state === "present") {
    encoding.writeVarUint(e, kinds.indexOf(s.kind));
    encoding.writeVarUint8Array(e, s.version);
  }
}
function readDocState(d: decoding.Decoder): DocState {
  const state = pick(docStates, decoding.readVarUint(d), "document state");
  if (state !== "present") return { state };
  return { state, kind: pick(kinds, decoding.readVarUint(d), "document kind"), version: decoding.readVarUint8Array(d) };
}

function list<T>(e: encoding.Encoder, items: readonly T[], write: (item: T) => void) {
  encoding.writeVarUint(e, items.length);
  items.forEach(write);
}
function readList<T>(d: decoding.Decoder, read: () => T): T[] {
  const count = decoding.readVarUint(d);
  // Each item takes at least one byte: a count past the bytes left is a lie, not a reason to allocate.
  if (count > d.arr.length - d.pos) throw new ConcordError("bad_frame", "a list is longer than its frame", { details: { reason: "unexpected" } });
  return Array.from({ length: count }, read);
}

export function encodeRequest(r: Request): Uint8Array {
  return encoding.encode((e) => {
    encoding.writeVarUint(e, requestTypes.indexOf(r.type));
    switch (r.type) {
      case "push":
        return list(e, r.entries, (entry) => {
          encoding.writeVarString(e, entry.id);
          if ("deleted" in entry) return encoding.writeVarUint(e, 0);
          encoding.writeVarUint(e, 1 + kinds.indexOf(entry.kind));
          encoding.writeVarUint8Array(e, entry.delta);
        });
      case "heartbeat":
        return;
      case "tree":
        return list(e, r.nodes, (n) => {
          encoding.writeVarString(e, n.path);
          writeDigest(e, n);
        });
      case "sync":
        return list(e, r.docs, (doc) => {
          encoding.writeVarString(e, doc.id);
          writeDocState(e, doc);
        });
    }
  });
}

export function decodeRequest(bytes: Uint8Array): Request {
  return guarded(() => {
    const d = decoding.createDecoder(bytes);
    const type = pick(requestTypes, decoding.readVarUint(d), "request type");
    switch (type) {
      case "push":
        return {
          type,
          entries: readList(d, (): PushEntry => {
            const id = decoding.readVarString(d);
            const tag = decoding.readVarUint(d);
            if (tag === 0) return { id, deleted: true };
            return { id, kind: pick(kinds, tag - 1, "document kind"), delta: decoding.readVarUint8Array(d) };
          }),
        };
      case "heartbeat":
        return { type };
      case "tree":
        return { type, nodes: readList(d, () => ({ path: readPath(d), ...readDigest(d) })) };
      case "sync":
        return { type, docs: readList(d, () => ({ id: decoding.readVarString(d), ...readDocState(d) })) };
    }
  });
}

export function encodeResponse(r: Response): Uint8Array {
  return encoding.encode((e) => {
    encoding.writeVarUint(e, responseTypes.indexOf(r.type));
    switch (r.type) {
      case "pushAck":
        return list(e, r.statuses, (s) => encoding.writeVarUint(e, toWire(s)));
      case "heartbeatAck":
        return;
      case "treeAnswer":
        return list(e, r.answers, (a) => {
          encoding.writeVarString(e, a.path);
          encoding.writeVarUint(e, treeAnswers.indexOf(a.answer));
          if (a.answer === "children") list(e, a.children, (c) => writeDigest(e, c));
          if (a.answer === "entries") {
            list(e, a.entries, ([id, hash]) => {
              encoding.writeVarString(e, id);
              encoding.writeVarUint8Array(e, hash);
            });
          }
        });
      case "syncAnswer":
        return list(e, r.docs, (doc) => {
          encoding.writeVarString(e, doc.id);
          writeDocState(e, doc);
          encoding.writeVarUint8Array(e, doc.diff ?? new Uint8Array(0));
        });
      case "refused":
        encoding.writeVarString(e, r.code);
        encoding.writeVarString(e, r.message);
        if (r.highestSeen !== undefined) encoding.writeBigUint64(e, r.highestSeen);
    }
  });
}

export function decodeResponse(bytes: Uint8Array): Response {
  return guarded(() => {
    const d = decoding.createDecoder(bytes);
    const type = pick(responseTypes, decoding.readVarUint(d), "response type");
    switch (type) {
      case "pushAck":
        return { type, statuses: readList(d, () => pick(wireStatuses, decoding.readVarUint(d), "push status")) };
      case "heartbeatAck":
        return { type };
      case "treeAnswer":
        return {
          type,
          answers: readList(d, (): TreeAnswer => {
            const path = readPath(d);
            const answer = pick(treeAnswers, decoding.readVarUint(d), "tree answer");
            if (answer === "equal") return { path, answer };
            if (answer === "children") return { path, answer, children: readList(d, () => readDigest(d)) };
            return { path, answer, entries: readList(d, () => [decoding.readVarString(d), decoding.readVarUint8Array(d)] as [string, Uint8Array]) };
          }),
        };
      case "syncAnswer":
        return {
          type,
          docs: readList(d, () => {
            const id = decoding.readVarString(d);
            const state = readDocState(d);
            const diff = decoding.readVarUint8Array(d);
            return diff.length > 0 ? { id, ...state, diff } : { id, ...state };
          }),
        };
      case "refused": {
        const code = decoding.readVarString(d);
        const message = decoding.readVarString(d);
        return decoding.hasContent(d) ? { type, code, message, highestSeen: decoding.readBigUint64(d) } : { type, code, message };
      }
    }
  });
}

function readPath(d: decoding.Decoder): string {
  const path = decoding.readVarString(d);
  if (!/^[0-9a-f]{0,16}$/.test(path)) throw new ConcordError("bad_frame", "a tree path is malformed", { details: { reason: "unexpected" } });
  return path;
}

function guarded<T>(decode: () => T): T {
  try {
    return decode();
  } catch (cause) {
    if (cause instanceof ConcordError) throw cause;
    throw new ConcordError("bad_frame", "a gossip message does not decode", { cause, details: { reason: "unexpected" } });
  }
}
