/**
 * The sync client: keeps an embedded replica in step with its home region
 * over one WebSocket that carries every document of the app's set.
 *
 *   const sync = await connect(replica, { regions: ["https://eu.example.com", "https://us.example.com"], token, docs: { prefix: "app/" } });
 *   sync.on("status", (s) => render(s.state, s.pendingWrites));
 *
 * Local writes are durable in the replica at once, online or not; the outbox
 * (outbox.ts) counts the unacknowledged ones across reloads. Each connection
 * starts with one catch-up round (protocol.ts), then deltas flow both ways.
 * When a region is unreachable the client moves on to the next one in the
 * list, with jittered exponential backoff once it has tried them all
 * (backoff.ts); while away from home it probes home and returns when it
 * answers. Every region it syncs with receives everything of the set this
 * replica holds, so a read-your-writes token from any region's ack is served
 * after a failover too. A region that vanishes without closing the socket is
 * noticed by the heartbeat (heartbeat.ts) within 2 × heartbeatMs, and the
 * client moves on as if the socket had closed.
 */
import type { DocKind } from "../doc/engine.ts";
import { ConcordError, isConcordError } from "../errors.ts";
import type { Replica } from "../replica/replica.ts";
import type { DocChange } from "../replica/types.ts";
import { systemClock, type Clock } from "../runtime/clock.ts";
import { systemRandom, type Random } from "../runtime/random.ts";
import { backoffDelay, type BackoffOptions } from "./backoff.ts";
import { startHeartbeat, type Heartbeat } from "./heartbeat.ts";
import { createEmitter, type SyncEventName, type SyncEvents, type SyncState, type SyncStatus } from "./events.ts";
import { holdings } from "./holdings.ts";
import { clientDocPrefix, openOutbox, type Outbox } from "./outbox.ts";
import {
  decodeFrame, digestEntries, encodeFrame, inDocSet, isPermanentClose, unpackFrames, type ClientMessage, type DocEntry, type DocSet,
} from "./protocol.ts";
import { defaultWebSocket, messageBytes, socketUrl, type SocketLike, type WebSocketConstructor } from "./socket.ts";

export interface ConnectOptions {
  /** Region base URLs (as for HTTP), home first. */
  regions: string[];
  /** A bearer token the regions know (with read, and write to send local edits). */
  token?: string;
  /** What to sync: a list of ids, or every id under a prefix (within the token's prefix). */
  docs: string[] | { prefix: string };
  /** The WebSocket class; default the global one (pass the `ws` package's on Node 20). */
  WebSocket?: WebSocketConstructor;
  clock?: Clock;
  random?: Random;
  backoff?: BackoffOptions;
  /** While failed over, how often to try home again, ms. Default 15,000. */
  homeRetryMs?: number;
  /**
   * Heartbeat interval, ms: a socket on which nothing arrives for a whole
   * interval after a ping is dropped (the region vanished without closing
   * it), so a silent region is noticed within twice this. Default 15,000.
   */
  heartbeatMs?: number;
}

export interface SyncClient {
  readonly status: SyncStatus;
  on<E extends SyncEventName>(event: E, fn: (e: SyncEvents[E]) => void): () => void;
  /** The read-your-writes token of this client's latest acknowledged write of `id` (for `?after=` on any region). */
  token(id: string): string | undefined;
  /** Resolves once the client is synced (now, if it is). */
  synced(): Promise<SyncStatus>;
  /** Stops syncing; the replica stays open (it is the app's). */
  close(): Promise<void>;
}

interface Session {
  ws: SocketLike;
  index: number;
  phase: "opening" | "catching-up" | "live";
  seq: number;
  /** Deltas sent and not yet acknowledged: how many outbox writes each covers. */
  inFlight: Map<number, { id: string; writes: number }>;
  /** Local writes and deletions made while the round runs, sent in order once it is done. */
  queued: Array<{ id: string; kind: DocKind; delta: Uint8Array } | { id: string; deleted: true }>;
  /** Documents re-asked for after a delta from the region did not apply. */
  wants: Set<string>;
  chain: Promise<void>;
  leaving: boolean;
  heartbeat: Heartbeat;
}

/**
 * What to send for a local change: its delta, except a new Automerge
 * document's announcement, which carries the empty document as a whole state
 * (a document chunk, which no client write path takes): an empty delta, which
 * asks the region to create the document, stands for it.
 */
function sendable(change: DocChange): Uint8Array {
  const d = change.delta;
  const documentChunk = change.kind === "automerge" && d.length > 8 && d[0] === 0x85 && d[1] === 0x6f && d[2] === 0x4a && d[3] === 0x83 && d[8] === 0;
  return documentChunk ? new Uint8Array(0) : d;
}

/** Starts syncing `replica`; resolves once the outbox is read (the first connection proceeds in the background). */
export async function connect(replica: Replica, options: ConnectOptions): Promise<SyncClient> {
  if (options.regions.length === 0) throw new ConcordError("invalid_argument", "connect() needs at least one region URL");
  const urls = options.regions.map((r) => socketUrl(r, options.token));
  const WebSocketClass = options.WebSocket ?? defaultWebSocket();
  const clock = options.clock ?? systemClock;
  const random = options.random ?? systemRandom;
  const set: DocSet = Array.isArray(options.docs) ? { ids: [...options.docs] } : { prefix: options.docs.prefix };
  const ids = "ids" in set ? new Set(set.ids) : undefined;
  const ours = (id: string) => !id.startsWith(clientDocPrefix) && inDocSet(set, id, ids);
  const emitter = createEmitter();

  let status: SyncStatus = { state: "connecting", region: undefined, home: true, pendingWrites: 0 };
  const setStatus = (state: SyncState, index: number | undefined) => {
    status = { state, region: index === undefined ? undefined : options.regions[index], home: index === undefined || index === 0, pendingWrites: status.pendingWrites };
    emitter.emit("status", status);
  };
  const outbox: Outbox = await openOutbox(replica, (pendingWrites) => {
    if (pendingWrites === status.pendingWrites) return;
    status = { ...status, pendingWrites };
    emitter.emit("pending", { pendingWrites });
    emitter.emit("status", status);
  });
  status = { ...status, pendingWrites: outbox.total() };

  const tokens = new Map<string, string>();
  let current: Session | undefined;
  let closed = false;
  let failures = 0;
  let cancelTimer: (() => void) | undefined;
  let cancelProbe: (() => void) | undefined;
  const waiting: Array<(s: SyncStatus) => void> = [];

  const send = (session: Session, header: ClientMessage, payload?: Uint8Array) => {
    if (session === current) session.ws.send(encodeFrame(header, payload));
  };
  const sendDelta = (session: Session, id: string, kind: DocKind, delta: Uint8Array, writes: number) => {
    const seq = ++session.seq;
    session.inFlight.set(seq, { id, writes });
    send(session, { t: "delta", id, kind, seq }, delta);
  };

  /** A deletion made here; its ack settles every pending write of `id` (they are moot). */
  const sendDelete = (session: Session, id: string) => {
    const seq = ++session.seq;
    session.inFlight.set(seq, { id, writes: Infinity });
    send(session, { t: "delete", id, seq });
  };
  const sendQueued = (session: Session, w: Session["queued"][number]) => {
    if ("deleted" in w) sendDelete(session, w.id);
    else sendDelta(session, w.id, w.kind, w.delta, 1);
  };

  /** A deletion from the region (made anywhere): delete here too; nothing of `id` is left to send. */
  const deletedByRegion = async (id: string) => {
    if (!ours(id)) return;
    await replica.deleteRemote(id);
    tokens.delete(id);
    await outbox.settle(id, Infinity);
  };

  const settleDeleted = async () => {
    for (const id of [...outbox.counts().keys()]) {
      if ((await replica.status(id)).state === "deleted") await outbox.settle(id, Infinity);
    }
  };

  /** The catch-up round, given the region's entries: send what it lacks, ask for what we lack. */
  const catchUp = async (session: Session, theirs: DocEntry[]) => {
    const mine = new Map((await holdings(replica, set, (id) => !ours(id))).map((e) => [e.id, e]));
    for (const entry of theirs) {
      const own = mine.get(entry.id);
      mine.delete(entry.id);
      if (!ours(entry.id)) continue;
      if ("deleted" in entry) {
        if (own && !("deleted" in own)) await replica.deleteRemote(entry.id);
        await outbox.settle(entry.id, Infinity);
        continue;
      }
      if (own && "deleted" in own) {
        // Deleted here, live there (a deletion made offline, say): tombstones are permanent, so the region has yet to learn it.
        sendDelete(session, entry.id);
        continue;
      }
      if (!own || own.kind !== entry.kind) {
        if (!own) send(session, { t: "want", id: entry.id });
        continue;
      }
      if (own.version === entry.version) {
        await outbox.settle(entry.id, Infinity);
        continue;
      }
      const delta = await replica.diff(entry.id, entry.version);
      if (delta.length > 0) sendDelta(session, entry.id, own.kind, delta, outbox.counts().get(entry.id) ?? 0);
      send(session, { t: "want", id: entry.id, version: own.version });
    }
    for (const own of mine.values()) {
      if ("deleted" in own) {
        await outbox.settle(own.id, Infinity); // made and deleted here while away: nothing to send
        continue;
      }
      // The region lacks it: all of it, as changes its write path takes (an Automerge save is not a delta).
      // (Empty for an Automerge document without changes: the region then only creates it.)
      const delta = own.kind === "yjs" ? await replica.encodeState(own.id) : await replica.diff(own.id, "");
      sendDelta(session, own.id, own.kind, delta, outbox.counts().get(own.id) ?? 0);
    }
    send(session, { t: "done" });
  };

  const applyFromRegion = async (session: Session, id: string, kind: DocKind, delta: Uint8Array) => {
    if (!ours(id)) return;
    try {
      await replica.applyRemote(id, kind, delta);
      session.wants.delete(id);
    } catch (error) {
      if (!isConcordError(error, "invalid_update") || session.wants.has(id)) throw error;
      // Raced ahead of what it builds on (a live delta before the round's answer): ask for all we lack.
      session.wants.add(id);
      const own = await replica.status(id);
      send(session, own.state === "present" ? { t: "want", id, version: (await replica.head(id)).version } : { t: "want", id });
    }
  };

  const synced = async (session: Session) => {
    // Equal digests (no round): documents made and deleted here while away never reached the region, and never will.
    if (session.phase === "opening") await settleDeleted();
    session.phase = "live";
    failures = 0;
    const region = options.regions[session.index]!;
    setStatus("synced", session.index);
    emitter.emit("synced", { region, home: session.index === 0 });
    if (session.index !== 0) {
      emitter.emit("failed-over", { from: options.regions[0]!, to: region });
      scheduleProbe();
    }
    for (const w of session.queued.splice(0)) sendQueued(session, w);
    for (const resolve of waiting.splice(0)) resolve(status);
  };

  const handle = async (session: Session, frame: Uint8Array) => {
    const { header, payload } = decodeFrame(frame);
    switch (header["t"]) {
      case "versions":
        session.phase = "catching-up";
        setStatus("catching-up", session.index);
        return catchUp(session, header["docs"] as DocEntry[]);
      case "synced":
        return synced(session);
      case "pong":
        return; // heard already (onmessage): it only proves the region is there
      case "batch":
        for (const inner of unpackFrames(payload)) await handle(session, inner);
        return;
      case "delta":
        return applyFromRegion(session, header["id"] as string, header["kind"] as DocKind, payload);
      case "deleted":
        return deletedByRegion(header["id"] as string);
      case "ack": {
        const sent = session.inFlight.get(header["seq"] as number);
        if (!sent) return;
        session.inFlight.delete(header["seq"] as number);
        if (typeof header["token"] === "string") tokens.set(sent.id, header["token"]);
        else tokens.delete(sent.id);
        if (sent.writes > 0) await outbox.settle(sent.id, sent.writes);
        return;
      }
      default:
        throw new ConcordError("invalid_argument", "the region sent a message this client does not know");
    }
  };

  const open = (index: number) => {
    cancelTimer = undefined;
    if (closed) return;
    const region = options.regions[index]!;
    setStatus("connecting", index);
    emitter.emit("connecting", { region });
    const ws = new WebSocketClass(urls[index]!);
    ws.binaryType = "arraybuffer";
    let opened = false;
    const heartbeat = startHeartbeat({
      clock, intervalMs: options.heartbeatMs ?? 15_000,
      isOpen: () => opened,
      ping: () => send(session, { t: "ping" }),
      dead: () => silent(session),
    });
    const session: Session = {
      ws, index, phase: "opening", seq: 0, inFlight: new Map(), queued: [], wants: new Set(), chain: Promise.resolve(), leaving: false, heartbeat,
    };
    current = session;
    const run = (step: () => Promise<void> | void) => {
      session.chain = session.chain.then(step).catch(() => {
        // A step failed (the replica closed, a frame we cannot read): start over with a fresh round.
        if (session === current) ws.close(1000, "client error");
      });
    };
    ws.onopen = () => {
      opened = true;
      run(async () => {
        const entries = await holdings(replica, set, (id) => !ours(id));
        send(session, { t: "hello", docs: set, digest: digestEntries(entries), ...(entries.length === 0 ? { empty: true } : {}) });
      });
    };
    ws.onmessage = (event) => {
      heartbeat.heard();
      const frame = messageBytes(event.data);
      if (frame) run(() => handle(session, frame));
    };
    ws.onerror = () => undefined; // a close event follows
    ws.onclose = (event) => ended(session, event.code, event.reason);
  };

  /** The heartbeat found the region silent: drop the socket (its close may take long on a dead path) and carry on without it. */
  const silent = (session: Session) => {
    if (session !== current) return;
    const ws = session.ws as SocketLike & { terminate?: () => void };
    if (ws.terminate) ws.terminate();
    else ws.close(1000, "the region stopped answering");
    ended(session, 1006, "the region stopped answering (no heartbeat)");
  };

  const ended = (session: Session, code: number, reason: string) => {
    session.heartbeat.stop();
    if (session !== current) return;
    current = undefined;
    cancelProbe?.();
    cancelProbe = undefined;
    if (closed) return;
    const region = options.regions[session.index]!;
    if (isPermanentClose(code)) {
      setStatus("denied", session.index);
      emitter.emit("denied", { region, code, reason });
      return;
    }
    if (session.leaving) return open(0);
    failures++;
    setStatus("offline", session.index);
    emitter.emit("offline", { region, code, reason });
    const next = (session.index + 1) % options.regions.length;
    cancelTimer = clock.timer(backoffDelay(failures, options.regions.length, random, options.backoff), () => open(next));
  };

  /** While away from home: every homeRetryMs, see whether home accepts a socket; if so, go back. */
  const scheduleProbe = () => {
    cancelProbe?.();
    cancelProbe = clock.timer(options.homeRetryMs ?? 15_000, () => {
      const session = current;
      if (closed || !session || session.index === 0) return;
      const probe = new WebSocketClass(urls[0]!);
      let done = false;
      const failed = () => {
        if (done) return;
        done = true;
        giveUp();
        if (current === session && !session.leaving) scheduleProbe();
      };
      // A home that swallows the handshake (gone without a trace) never closes the probe either: give up on it after a heartbeat.
      const giveUp = clock.timer(options.heartbeatMs ?? 15_000, () => {
        const p = probe as SocketLike & { terminate?: () => void };
        if (p.terminate) p.terminate();
        else p.close(1000, "home probe timed out");
        failed();
      });
      probe.onopen = () => {
        done = true;
        giveUp();
        probe.close(1000, "home probe");
        if (current !== session || closed) return;
        session.leaving = true;
        session.ws.close(1000, "returning home");
      };
      probe.onerror = () => undefined;
      probe.onclose = failed;
    });
  };

  const unsubscribe = replica.subscribeAll((change: DocChange) => {
    if (change.origin !== "local" || !ours(change.id)) return;
    void outbox.add(change.id).catch(() => undefined);
    const session = current;
    if (!session) return; // offline: the next catch-up round sends it
    const delta = sendable(change);
    if (session.phase === "live") sendDelta(session, change.id, change.kind, delta, 1);
    else session.queued.push({ id: change.id, kind: change.kind, delta });
  });

  const unobserve = replica.observe((event) => {
    if (event.type !== "delete" || event.origin !== "local" || !ours(event.id)) return;
    void outbox.add(event.id).catch(() => undefined);
    const session = current;
    if (!session) return; // offline: the next catch-up round sends it (the region still lists the document live)
    if (session.phase === "live") sendDelete(session, event.id);
    else session.queued.push({ id: event.id, deleted: true });
  });

  open(0);
  return {
    get status() {
      return status;
    },
    on: emitter.on,
    token: (id) => tokens.get(id),
    synced: () => (status.state === "synced" ? Promise.resolve(status) : new Promise((resolve) => waiting.push(resolve))),
    async close() {
      if (closed) return;
      closed = true;
      unsubscribe();
      unobserve();
      cancelTimer?.();
      cancelProbe?.();
      const session = current;
      current = undefined;
      session?.heartbeat.stop();
      session?.ws.close(1000, "client closed");
      await session?.chain;
      setStatus("closed", undefined);
    },
  };
}
