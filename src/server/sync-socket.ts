/**
 * The region's end of the sync client's socket (`/v1/sync`, protocol in
 * src/client/protocol.ts). One socket carries every document of the client's
 * set. Client deltas go through the replica's ordinary validated, durable
 * write path (`update`, `create`), so they gossip on like any write; the
 * token's scopes and prefix are checked per document. A frame that does not
 * decode, is too large or carries a refused delta closes the socket with a
 * code saying so, and changes nothing. Nothing user-written is logged.
 *
 * Heartbeat: the region sends a WebSocket ping every `pingMs` (browsers and
 * `ws` answer it by themselves) and terminates a socket from which nothing,
 * pong or frame, arrived since the previous ping: a client that vanished
 * without closing is let go within 2 × pingMs. A client's own `ping` frame
 * is answered with `pong` at once, ahead of any work queued for the socket.
 */
import type { IncomingMessage } from "node:http";
import type { Logger } from "pino";
import type { RawData, WebSocket } from "ws";
import { holdings } from "../client/holdings.ts";
import {
  decodeFrame, digestEntries, encodeFrame, inDocSet, packFrames, syncCloseCodes, type DocSet, type ServerMessage,
} from "../client/protocol.ts";
import { isDocKind } from "../doc/index.ts";
import { ConcordError, isConcordError } from "../errors.ts";
import type { Replica } from "../replica/replica.ts";
import { systemClock, type Clock } from "../runtime/clock.ts";
import { authorize, type Principal, type TokenTable } from "./auth.ts";
import type { SocketRoute } from "./socket-upgrade.ts";
import { syncPath } from "../client/protocol.ts";

export interface SyncSocketOptions {
  replica: Replica;
  /** The region's live tokens: a revoked token's sockets close (4401). Undefined with authentication off. */
  tokens?: TokenTable | undefined;
  /** Largest frame a client may send, bytes. Default 8 MiB + 64 KiB (the delta limit plus framing, as HTTP). */
  maxFrameBytes?: number;
  /** Most ids one socket may list. Default 10,000. */
  maxDocs?: number;
  /** Bytes queued for a client that does not read before it is closed (1013). Default 32 MiB. */
  maxBufferedBytes?: number;
  logger?: Logger | undefined;
  /** Timers of the heartbeat. Default the system clock (this is an adapter). */
  clock?: Clock;
  /** Heartbeat interval, ms; a client silent for a whole interval after a ping is terminated. Default 15,000. */
  pingMs?: number;
}

/** The /v1/sync route for the socket registry (socket-upgrade.ts). */
export function syncSocketRoute(options: SyncSocketOptions): SocketRoute {
  return {
    protocol: "sync",
    match: (pathname) => pathname === syncPath,
    handle: (ws, _request: IncomingMessage, principal) => openSession(ws, principal, options),
  };
}

/** Why a frame ends the socket: a ConcordError's code mapped to a close code. */
function closeFor(error: unknown): { code: number; reason: string } {
  const message = error instanceof Error ? error.message.slice(0, 120) : "failed";
  if (!isConcordError(error)) return { code: syncCloseCodes.internal, reason: "internal error" };
  switch (error.code) {
    case "invalid_argument": return { code: syncCloseCodes.malformed, reason: message };
    case "forbidden": return { code: syncCloseCodes.forbidden, reason: message };
    case "unauthorized": return { code: syncCloseCodes.unauthorized, reason: message };
    case "too_large": return { code: syncCloseCodes.tooLarge, reason: message };
    case "invalid_update": return { code: syncCloseCodes.invalidUpdate, reason: message };
    case "closed": case "unavailable": return { code: syncCloseCodes.unavailable, reason: message };
    default: return { code: syncCloseCodes.internal, reason: `${error.code}` };
  }
}

/** Bytes of frames packed into one batch before it is deflated and sent. */
const batchMaxBytes = 1 << 20;

const malformed = (message: string) => new ConcordError("invalid_argument", message);

function parseDocSet(raw: unknown, principal: Principal, maxDocs: number): DocSet {
  const set = raw as { ids?: unknown; prefix?: unknown } | null;
  if (typeof set?.prefix === "string") {
    authorize(principal, "read", set.prefix);
    return { prefix: set.prefix };
  }
  if (!Array.isArray(set?.ids) || !set.ids.every((id) => typeof id === "string" && id !== "")) throw malformed('hello.docs is { ids: [...] } or { prefix }');
  if (set.ids.length > maxDocs) throw new ConcordError("too_large", `one socket syncs at most ${maxDocs} listed documents: use a prefix`);
  for (const id of set.ids) authorize(principal, "read", id as string);
  return { ids: set.ids as string[] };
}

function openSession(ws: WebSocket, principal: Principal, options: SyncSocketOptions): void {
  const { replica } = options;
  const maxFrameBytes = options.maxFrameBytes ?? (8 << 20) + (64 << 10);
  let state: "hello" | "catching-up" | "live" = "hello";
  let set: DocSet | undefined;
  let ids: ReadonlySet<string> | undefined;
  let chain = Promise.resolve();
  let ended = false;
  // Deltas this socket wrote: their announcements are not echoed back to it.
  const own = new WeakSet<Uint8Array>();
  const cleanups: Array<() => void> = [];

  const end = (code: number, reason: string) => {
    if (ended) return;
    ended = true;
    for (const cleanup of cleanups) cleanup();
    ws.close(code, reason);
  };
  const send = (header: ServerMessage, payload?: Uint8Array) => {
    if (ended) return;
    ws.send(encodeFrame(header, payload));
    if (ws.bufferedAmount > (options.maxBufferedBytes ?? 32 << 20)) end(syncCloseCodes.backPressure, "the client does not read what it is sent");
  };

  if (options.tokens && principal.tokenHash) {
    const hash = principal.tokenHash;
    cleanups.push(options.tokens.onRevoke((revoked) => revoked === hash && end(syncCloseCodes.unauthorized, "token revoked")));
  }
  // Other clients' edits as soon as they are applied here, before the disk: a client that saw an edit this region
  // then lost in a crash hands it back in its next catch-up (it sends everything of its set the region lacks).
  cleanups.push(replica.subscribeAll((change) => {
    if (state === "hello" || !set || !inDocSet(set, change.id, ids) || own.has(change.delta)) return;
    send({ t: "delta", id: change.id, kind: change.kind }, change.delta);
  }, { when: "applied" }));
  // Deletions this socket asked for: not announced back to it.
  const ownDeletes = new Set<string>();
  cleanups.push(replica.observe((event) => {
    if (event.type !== "delete" || state === "hello" || !set || !inDocSet(set, event.id, ids)) return;
    if (ownDeletes.delete(event.id)) return;
    send({ t: "deleted", id: event.id });
  }));
  ws.on("close", () => {
    ended = true;
    for (const cleanup of cleanups) cleanup();
  });
  let heard = true;
  ws.on("pong", () => void (heard = true));
  cleanups.push(heartbeat(options.clock ?? systemClock, options.pingMs ?? 15_000, () => {
    if (!heard) return void ws.terminate();
    heard = false;
    ws.ping();
  }));

  const hello = async (header: Record<string, unknown>) => {
    if (state !== "hello") throw malformed("hello comes once, first");
    if (typeof header["digest"] !== "string") throw malformed("hello.digest is a string");
    set = parseDocSet(header["docs"], principal, options.maxDocs ?? 10_000);
    ids = "ids" in set ? new Set(set.ids) : undefined;
    state = "catching-up";
    const entries = await holdings(replica, set);
    if (digestEntries(entries) === header["digest"]) {
      state = "live";
      send({ t: "synced", region: replica.region });
    } else if (header["empty"] === true) {
      // A fresh client: everything, whole, in deflated batches, then synced; one round trip, no version list.
      let batch: Uint8Array[] = [];
      let batchBytes = 0;
      const flush = () => {
        if (batch.length > 0) send({ t: "batch" }, packFrames(batch));
        batch = [];
        batchBytes = 0;
      };
      for (const entry of entries) {
        if (ended) return;
        if ("deleted" in entry) continue;
        const frame = encodeFrame({ t: "delta", id: entry.id, kind: entry.kind }, await replica.encodeState(entry.id));
        batch.push(frame);
        batchBytes += frame.length;
        if (batchBytes >= batchMaxBytes) flush();
      }
      flush();
      state = "live";
      send({ t: "synced", region: replica.region });
    } else {
      send({ t: "versions", docs: entries });
    }
  };

  const delta = async (header: Record<string, unknown>, payload: Uint8Array) => {
    const { id, kind, seq } = header;
    if (state === "hello" || !set) throw malformed("hello first");
    if (typeof id !== "string" || !isDocKind(kind) || typeof seq !== "number" || !Number.isSafeInteger(seq)) throw malformed("delta is { id, kind, seq }");
    authorize(principal, "write", id);
    if (!inDocSet(set, id, ids)) throw new ConcordError("forbidden", "a delta for a document outside this socket's set");
    own.add(payload);
    const create = () => replica.create(id, kind).then(() => undefined, (e: unknown) => {
      if (!isConcordError(e, "exists")) throw e;
    });
    let token: string;
    try {
      token = await write(id, payload, create);
    } catch (error) {
      if (!isConcordError(error, "deleted")) throw error;
      // Deleted here (a deletion wins over concurrent edits): the client learns it, and its write is settled.
      send({ t: "deleted", id });
      return send({ t: "ack", seq, id });
    }
    send({ t: "ack", seq, id, token });
  };

  /** Applies a client delta (empty: the document need only exist), creating the document when new; its ack token. */
  const write = async (id: string, payload: Uint8Array, create: () => Promise<void>): Promise<string> => {
    if (payload.length === 0) {
      await create();
      return (await replica.head(id)).version;
    }
    try {
      return (await replica.update(id, payload)).token;
    } catch (error) {
      if (!isConcordError(error, "not_found")) throw error;
      await create();
      return (await replica.update(id, payload)).token;
    }
  };

  const deletion = async (header: Record<string, unknown>) => {
    const { id, seq } = header;
    if (state === "hello" || !set) throw malformed("hello first");
    if (typeof id !== "string" || id === "" || typeof seq !== "number" || !Number.isSafeInteger(seq)) throw malformed("delete is { id, seq }");
    authorize(principal, "write", id);
    if (!inDocSet(set, id, ids)) throw new ConcordError("forbidden", "a deletion of a document outside this socket's set");
    ownDeletes.add(id);
    try {
      const status = await replica.status(id);
      if (status.state === "present") await replica.delete(id);
      // Absent here (its creation has not arrived yet): a tombstone all the same, which anti-entropy carries on.
      else if (status.state === "absent") await replica.deleteRemote(id);
    } finally {
      ownDeletes.delete(id);
    }
    send({ t: "ack", seq, id });
  };

  const want = async (header: Record<string, unknown>) => {
    const { id, version } = header;
    if (state === "hello" || !set) throw malformed("hello first");
    if (typeof id !== "string" || (version !== undefined && typeof version !== "string")) throw malformed("want is { id, version? }");
    authorize(principal, "read", id);
    if (!inDocSet(set, id, ids)) throw new ConcordError("forbidden", "a document outside this socket's set");
    const status = await replica.status(id);
    if (status.state !== "present") return;
    let bytes: Uint8Array | undefined;
    if (version !== undefined) bytes = await replica.diff(id, version).catch(() => undefined); // a version from the other kind, say
    send({ t: "delta", id, kind: status.kind }, bytes ?? await replica.encodeState(id));
  };

  const handle = async (frame: Uint8Array) => {
    const { header, payload } = decodeFrame(frame);
    switch (header["t"]) {
      case "hello": return hello(header);
      case "delta": return delta(header, payload);
      case "want": return want(header);
      case "delete": return deletion(header);
      case "done":
        if (state !== "catching-up") throw malformed("done ends a catch-up round");
        state = "live";
        return send({ t: "synced", region: replica.region });
      default: throw malformed("unknown message type");
    }
  };

  ws.on("message", (data: RawData, isBinary: boolean) => {
    if (ended) return;
    heard = true;
    const frame = Array.isArray(data) ? Buffer.concat(data) : new Uint8Array(data as ArrayBuffer | Buffer);
    if (!isBinary) return end(syncCloseCodes.malformed, "sync frames are binary");
    if (frame.length > maxFrameBytes) return end(syncCloseCodes.tooLarge, `a frame is at most ${maxFrameBytes} bytes`);
    if (isPing(frame)) return send({ t: "pong" });
    // One frame at a time, in order: a catch-up round's answers keep the order of its questions.
    chain = chain.then(() => (ended ? undefined : handle(frame))).catch((error: unknown) => {
      const { code, reason } = closeFor(error);
      // The error's name and code only: messages may name documents, and nothing user-written is logged.
      if (code === syncCloseCodes.internal) options.logger?.error({ error: (error as Error)?.name, code: (error as { code?: unknown })?.code, principal: principal.name }, "sync socket failed");
      end(code, reason);
    });
  });
}

/** Calls `beat` every `intervalMs` until the returned function is called. */
function heartbeat(clock: Clock, intervalMs: number, beat: () => void): () => void {
  let cancel = clock.timer(intervalMs, function tick() {
    beat();
    cancel = clock.timer(intervalMs, tick);
  });
  return () => cancel();
}

const pingFrame = encodeFrame({ t: "ping" });

/** Whether `frame` is exactly the client's ping (answered outside the ordered chain, so a long catch-up does not delay it). */
function isPing(frame: Uint8Array): boolean {
  return frame.length === pingFrame.length && frame.every((byte, i) => byte === pingFrame[i]);
}
