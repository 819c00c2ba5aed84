/**
 * The stock-protocol codecs against the packages' own encoders: y-protocols
 * (sync, awareness) and automerge-repo's CBOR settings; bytes from
 * PROTOCOLS.md's worked examples; and malformed input as a typed error.
 */
import * as Y from "yjs";
import * as awarenessProtocol from "y-protocols/awareness";
import * as syncProtocol from "y-protocols/sync";
import * as encoding from "lib0/encoding";
import { cbor } from "@automerge/automerge-repo/slim";
import { describe, expect, it } from "vitest";
import { isConcordError } from "../../src/errors.ts";
import { decodeAwareness, decodeYjsFrame, encodeAwareness, keepAliveMessage, syncStep1Message } from "../../src/server/yjs-socket-codec.ts";
import { decodeRepoMessage, encodeRepoMessage } from "../../src/server/automerge-repo-codec.ts";

const malformed = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return isConcordError(error, "invalid_update") && error.details.reason === "malformed";
  }
  return false;
};

describe("y-websocket codec", () => {
  it("decodes the worked bytes of PROTOCOLS.md", () => {
    expect(decodeYjsFrame(new Uint8Array([0x00, 0x00, 0x01, 0x00]))).toEqual([{ type: "sync-step1", stateVector: new Uint8Array([0]) }]);
    const [awareness] = decodeYjsFrame(new Uint8Array([0x01, 0x06, 0x01, 0x7b, 0x00, 0x02, 0x7b, 0x7d]));
    expect(awareness?.type === "awareness" && decodeAwareness(awareness.update)).toEqual([{ clientId: 123, clock: 0, state: "{}" }]);
  });

  it("decodes several messages of one frame, as y-protocols writes them", () => {
    const doc = new Y.Doc();
    doc.getText("t").insert(0, "x");
    const e = encoding.createEncoder();
    encoding.writeVarUint(e, 0);
    syncProtocol.writeSyncStep1(e, doc);
    encoding.writeVarUint(e, 0);
    syncProtocol.writeUpdate(e, Y.encodeStateAsUpdate(doc));
    encoding.writeVarUint(e, 3);
    const messages = decodeYjsFrame(encoding.toUint8Array(e));
    expect(messages.map((m) => m.type)).toEqual(["sync-step1", "update", "query-awareness"]);
    expect(syncStep1Message(Y.encodeStateVector(doc))).toEqual(encoding.toUint8Array((() => {
      const one = encoding.createEncoder();
      encoding.writeVarUint(one, 0);
      syncProtocol.writeSyncStep1(one, doc);
      return one;
    })()));
  });

  it("encodes awareness exactly as y-protocols does, and its keep-alive changes nothing in a client", () => {
    const doc = new Y.Doc();
    const awareness = new awarenessProtocol.Awareness(doc);
    awareness.setLocalState({ user: { name: "ada" } });
    const theirs = awarenessProtocol.encodeAwarenessUpdate(awareness, [doc.clientID]);
    expect(encodeAwareness(decodeAwareness(theirs))).toEqual(theirs);
    const client = new awarenessProtocol.Awareness(new Y.Doc());
    let changes = 0;
    client.on("change", () => changes++);
    const [keepAlive] = decodeYjsFrame(keepAliveMessage);
    awarenessProtocol.applyAwarenessUpdate(client, (keepAlive as { update: Uint8Array }).update, "server");
    expect(changes).toBe(0);
  });

  it("treats an unknown type as the end of the frame, and malformed bytes as a typed error", () => {
    expect(decodeYjsFrame(new Uint8Array([102, 1, 5]))).toEqual([{ type: "unknown", messageType: 102, bytes: new Uint8Array([102, 1, 5]) }]);
    for (const bytes of [[0x80], [0, 2, 0xff, 0xff, 0xff, 0x7f], [0, 0], [1, 3, 1, 1], [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80]]) {
      expect(malformed(() => decodeYjsFrame(new Uint8Array(bytes))), String(bytes)).toBe(true);
    }
    expect(malformed(() => decodeAwareness(new Uint8Array([1, 1, 0, 2, 0x7b, 0x7b])))).toBe(true);
  });
});

describe("automerge-repo codec", () => {
  it("reads what automerge-repo's own CBOR writes, and writes byte strings it reads back", () => {
    const join = cbor.encode({ type: "join", senderId: "p1", metadata: { isEphemeral: true }, supportedProtocolVersions: ["1"] });
    expect(decodeRepoMessage(join)).toEqual({ type: "join", senderId: "p1", peerMetadata: { isEphemeral: true }, supportedProtocolVersions: ["1"] });
    const data = new Uint8Array([1, 2, 3]);
    const ours = encodeRepoMessage({ type: "sync", senderId: "s", targetId: "p1", documentId: "d", data });
    const back = cbor.decode(ours) as Record<string, unknown>;
    expect({ ...back, data: new Uint8Array(back.data as Uint8Array) }).toEqual({ type: "sync", senderId: "s", targetId: "p1", documentId: "d", data });
    expect(Buffer.from(ours).includes(Buffer.from([0x43, 1, 2, 3]))).toBe(true); // a plain byte string, no tag
  });

  it("refuses non-CBOR, non-maps and sync messages without data", () => {
    for (const bytes of [new Uint8Array([0xff, 0xfe]), cbor.encode([1, 2]), cbor.encode({ type: "sync", senderId: "a", documentId: "d" })]) {
      expect(malformed(() => decodeRepoMessage(bytes))).toBe(true);
    }
  });
});
