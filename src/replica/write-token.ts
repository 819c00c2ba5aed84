/**
 * Read-your-writes tokens of a fixed, small size. A token only has to tell
 * whether a region holds one write, so for Yjs it names that write alone:
 * the clocks its structs reach per client and the ranges it deletes, in the
 * version encoding (yjs-version.ts), which `includes` reads as it reads any
 * version. Its size follows the delta, not the document: a keystroke's token
 * is a few bytes where the document's version (state vector and whole delete
 * set) is 10 KB and more after a long edit. Automerge versions are the heads,
 * already small: the token stays the version.
 */
import * as Y from "yjs";
import type { DocKind } from "../doc/engine.ts";
import { ByteWriter } from "../doc/byte-writer.ts";
import type { WriteAck } from "./types.ts";
import { encodeVersion } from "./version-token.ts";

/** The token (base64url) for an applied write of `delta`; undefined where the version is the token. */
export function writeToken(kind: DocKind, delta: Uint8Array): string | undefined {
  if (kind !== "yjs") return undefined;
  try {
    return encodeVersion(yjsDeltaVersion(delta));
  } catch {
    return undefined; // not decodable as a lone update (it applied, so it is valid): the version is always right
  }
}

/**
 * Makes `ack.token` the write's own token (writeToken), computed on first
 * read: decoding the delta again costs about as much as applying a
 * keystroke, and an embedded caller often never reads the token. The delta is
 * copied (the caller may reuse its buffer); the version stays the token
 * where it is shorter or the delta yields none.
 */
export function lazyWriteToken(ack: WriteAck, kind: DocKind, delta: Uint8Array): void {
  if (kind !== "yjs") return;
  const own = delta.slice();
  Object.defineProperty(ack, "token", {
    enumerable: true,
    configurable: true,
    get() {
      const token = writeToken(kind, own);
      const value = token !== undefined && token.length < ack.version.length ? token : ack.version;
      Object.defineProperty(ack, "token", { value, enumerable: true, writable: true, configurable: true });
      return value;
    },
    set(value: string) {
      Object.defineProperty(ack, "token", { value, enumerable: true, writable: true, configurable: true });
    },
  });
}

/** What a document must hold to include the Yjs update `delta`, as version bytes. */
function yjsDeltaVersion(delta: Uint8Array): Uint8Array {
  const { structs, ds } = Y.decodeUpdate(delta);
  const reach = new Map<number, number>();
  for (const struct of structs) {
    if (struct instanceof Y.Skip) continue;
    const end = struct.id.clock + struct.length;
    if (end > (reach.get(struct.id.client) ?? 0)) reach.set(struct.id.client, end);
  }
  const writer = new ByteWriter();
  const clients = [...reach.keys()].sort((a, b) => a - b);
  writer.varUint(clients.length);
  for (const client of clients) {
    writer.varUint(client);
    writer.varUint(reach.get(client)!);
  }
  const deleting = [...ds.clients.entries()].filter(([, items]) => items.length > 0).sort(([a], [b]) => a - b);
  writer.varUint(deleting.length);
  for (const [client, items] of deleting) {
    writer.varUint(client);
    writer.varUint(items.length);
    for (const item of [...items].sort((a, b) => a.clock - b.clock)) {
      writer.varUint(item.clock);
      writer.varUint(item.len);
    }
  }
  return writer.finish();
}

/**
 * For a Yjs delta refused for missing dependencies: a cheap test of whether
 * a document state now has what the delta's own structs continue (each
 * client's clock up to where they start), so a waiting delta is not tried
 * again (an engine check and a thrown error each time) while it certainly
 * still lacks them. Passing it does not promise the delta applies (it may
 * reference other clients' structs): the engine still decides. Undefined
 * when there is no such test (Automerge, or a delta that does not decode).
 */
export function dependencyCheck(kind: DocKind, delta: Uint8Array): ((state: unknown) => boolean) | undefined {
  if (kind !== "yjs") return undefined;
  const starts = new Map<number, number>();
  try {
    for (const struct of Y.decodeUpdate(delta).structs) {
      if (struct instanceof Y.Skip) continue;
      const { client, clock } = struct.id;
      if (clock < (starts.get(client) ?? Infinity)) starts.set(client, clock);
    }
  } catch {
    return undefined;
  }
  return (state) => {
    const store = (state as Y.Doc).store;
    for (const [client, clock] of starts) if (Y.getState(store, client) < clock) return false;
    return true;
  };
}
