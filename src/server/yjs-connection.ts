/**
 * One y-websocket socket: decodes its frames, runs its messages one at a
 * time against the replica, and keeps it alive. Frames that arrive while an
 * earlier one is still being written wait in a bounded queue (1013 beyond),
 * which is also where frames wait while the document is first opened.
 */
import type { WebSocket } from "ws";
import { isConcordError } from "../errors.ts";
import { decodeYjsVersion } from "../doc/yjs-version.ts";
import { decodeVersion } from "../replica/version-token.ts";
import type { Clock } from "../runtime/clock.ts";
import { DeadlineQueue } from "./deadline-queue.ts";
import type { PresenceRelay } from "./presence-relay.ts";
import { closeCodes, closeReasonOf, type CloseReason } from "./socket-close-codes.ts";
import { MessageBucket } from "./socket-message-bucket.ts";
import type { SocketMetrics } from "./socket-metrics.ts";
import type { PingedSocket } from "./socket-pings.ts";
import {
  decodeAwareness, decodeYjsFrame, encodeAwareness, keepAliveMessage, permissionDeniedMessage,
  syncStep1Message, syncStep2Message, updateMessage, type YjsMessage,
} from "./yjs-socket-codec.ts";
import type { RoomMember, YjsRoom } from "./yjs-socket-room.ts";
import type { YjsReplicaPort } from "./yjs-socket.ts";
import { listenTo } from "./socket-listeners.ts";

export interface YjsConnectionLimits {
  /** Largest frame a socket may send, bytes (4413 beyond). */
  maxMessageBytes: number;
  /** Frames waiting behind a write in progress (1013 beyond). */
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  /** Bytes waiting in the socket's send buffer before we give up on a slow reader (1013). */
  maxBufferedBytes: number;
  /** Sustained frames per second (token bucket), and the burst after idling (4529 beyond). */
  messagesPerSecond: number;
  messageBurst: number;
  /** Sends a no-op message when nothing else was sent for this long (clients close after 30 s of silence). */
  keepAliveMs: number;
  /** WebSocket ping interval; a socket that missed the previous pong is terminated. */
  pingMs: number;
  /** How long awareness relayed from another region is kept. */
  presenceTtlMs: number;
}

/**
 * What every socket of the route shares, made once per route (yjs-socket.ts):
 * a socket's own state is only its socket, document id and write right, so an
 * idle socket costs little (issue 13: per-socket memory).
 */
export interface YjsRouteContext {
  replica: YjsReplicaPort;
  clock: Clock;
  metrics: SocketMetrics;
  limits: YjsConnectionLimits;
  presence: PresenceRelay | undefined;
  roomFor(id: string): YjsRoom;
  leaveRoom(room: YjsRoom): void;
  /** Due `keepAliveMs` after a socket last sent anything (createKeepAliveQueue). */
  keepAlives: DeadlineQueue<YjsConnection>;
  /** The route's sockets' pings (socket-pings.ts). */
  pings: DeadlineQueue<PingedSocket>;
}

/** Sends a keep-alive to each socket that sent nothing for `keepAliveMs` (clients close after 30 s of silence). */
export function createKeepAliveQueue(clock: Clock, keepAliveMs: number): DeadlineQueue<YjsConnection> {
  return new DeadlineQueue<YjsConnection>(clock, keepAliveMs, (connection) => connection.keepAliveDue());
}

/** Our "empty delete set": a client's state vector plus it is a Concord Yjs version (yjs-version.ts). */
const withEmptyDeleteSet = (stateVector: Uint8Array) => {
  const version = new Uint8Array(stateVector.length + 1);
  version.set(stateVector);
  return version;
};

/** A Yjs v1 update with no structs and no deletes: what a client with nothing new answers to sync step 1. */
const isEmptyUpdate = (update: Uint8Array) => update.length === 2 && update[0] === 0 && update[1] === 0;

export class YjsConnection implements RoomMember, PingedSocket {
  /** Awareness client ids this socket introduced; made on its first awareness message. */
  clientIds: Set<number> | undefined;
  awaitingPong = false;
  private room: YjsRoom | undefined;
  /** The tail of the frames being handled, in order; undefined when none waits (most of an idle socket's life). */
  private chain: Promise<void> | undefined;
  private queuedMessages = 0;
  private queuedBytes = 0;
  private closed = false;
  private toldReadOnly = false;
  private readonly bucket: MessageBucket;

  constructor(readonly ws: WebSocket, private readonly id: string, private readonly canWrite: boolean, private readonly route: YjsRouteContext) {
    this.bucket = new MessageBucket(route.clock, route.limits.messagesPerSecond, route.limits.messageBurst);
  }

  start(): void {
    const { ws, route } = this;
    ws.binaryType = "nodebuffer";
    listenTo(ws, this);
    this.enqueue(0, () => this.open());
    route.keepAlives.touch(this);
    route.pings.touch(this);
  }

  send(message: Uint8Array): void {
    const { ws, route } = this;
    if (this.closed || ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > route.limits.maxBufferedBytes) return this.close("backPressure", "the socket reads too slowly");
    ws.send(message);
    route.keepAlives.touch(this);
    route.metrics.messageOut("yjs");
  }

  /** Nothing was sent for keepAliveMs: a no-op message keeps the client from timing out. */
  keepAliveDue(): void {
    if (this.closed) return;
    this.send(keepAliveMessage);
    if (!this.closed) this.route.keepAlives.touch(this); // also when the socket was not open to send on
  }

  /** A frame from the socket (its message listener). */
  receive(data: Buffer, isBinary: boolean): void {
    const { limits, metrics } = this.route;
    if (this.closed) return;
    if (!isBinary) return this.close("malformed", "y-websocket frames are binary");
    if (data.length > limits.maxMessageBytes) return this.close("tooLarge", `a frame is over ${limits.maxMessageBytes} bytes`);
    if (!this.bucket.take()) return this.close("rateLimited", `more than ${limits.messagesPerSecond} frames per second`);
    if (this.queuedMessages >= limits.maxQueuedMessages || this.queuedBytes + data.length > limits.maxQueuedBytes) {
      return this.close("backPressure", "too many frames waiting");
    }
    let messages: YjsMessage[];
    try {
      messages = decodeYjsFrame(new Uint8Array(data.buffer, data.byteOffset, data.length));
    } catch {
      return this.close("malformed", "a frame does not decode as y-websocket messages");
    }
    for (let i = 0; i < messages.length; i++) metrics.messageIn("yjs");
    this.enqueue(data.length, async () => {
      for (const message of messages) {
        if (this.closed) return;
        await this.handle(message);
      }
    });
  }

  private enqueue(bytes: number, work: () => Promise<void>): void {
    this.queuedMessages++;
    this.queuedBytes += bytes;
    const chain: Promise<void> = (this.chain ?? Promise.resolve()).then(async () => {
      try {
        if (!this.closed) await work();
      } catch (error) {
        this.fail(error);
      } finally {
        this.queuedMessages--;
        this.queuedBytes -= bytes;
        if (this.chain === chain) this.chain = undefined; // nothing was queued behind this frame
      }
    });
    this.chain = chain;
  }

  /** Finds or creates the document, joins its room, and starts the sync (step 1 and the known awareness). */
  private async open(): Promise<void> {
    const { id, route } = this;
    const { replica } = route;
    const room = route.roomFor(id);
    this.room = room;
    room.members.add(this); // before reading the state: every later change reaches us through the room
    const head = await replica.head(id).catch(async (error: unknown) => {
      if (!isConcordError(error, "not_found") || !this.canWrite) throw error;
      await replica.create(id, "yjs").catch((e: unknown) => {
        if (!isConcordError(e, "exists")) throw e;
      });
      return replica.head(id);
    });
    if (head.kind !== "yjs") return this.close("wrongKind", `document is ${head.kind}, not yjs`);
    this.send(syncStep1Message(decodeYjsVersion(decodeVersion(head.version)).stateVectorBytes));
    const awareness = room.currentAwareness(this.route.clock.now());
    if (awareness) this.send(awareness);
  }

  private async handle(message: YjsMessage): Promise<void> {
    const { id } = this;
    const { replica, presence } = this.route;
    const room = this.room!;
    switch (message.type) {
      case "sync-step1":
        return this.send(syncStep2Message(await replica.diff(id, withEmptyDeleteSet(message.stateVector))));
      case "sync-step2":
      case "update": {
        // A read-only client answers our step 1 too, usually with nothing: only content is refused out loud.
        if (!this.canWrite) return isEmptyUpdate(message.update) ? undefined : this.refuseWrite();
        room.sending(message.update, this);
        await replica.update(id, message.update);
        // The room relayed it to the other sockets as it was applied; its sender hears it back once it is durable
        // (an update we already held, too).
        this.send(updateMessage(message.update));
        return;
      }
      case "awareness": {
        const accepted = room.applyAwareness(decodeAwareness(message.update), this, Infinity);
        if (accepted.length > 0 && presence) {
          presence.publish("yjs", id, encodeAwareness(accepted));
          this.route.metrics.relayed("yjs", "sent");
        }
        return;
      }
      case "query-awareness": {
        const awareness = room.currentAwareness(this.route.clock.now());
        if (awareness) this.send(awareness);
        return;
      }
      case "auth":
        return;
      case "unknown":
        // y-sweet's 102 is a heartbeat its client waits to see echoed; anything else is ignored.
        if (message.messageType === 102) this.send(message.bytes);
        return;
    }
  }

  private refuseWrite(): void {
    this.route.metrics.rejected("yjs", "read_only");
    if (this.toldReadOnly) return;
    this.toldReadOnly = true;
    this.send(permissionDeniedMessage("this token is read-only: updates are dropped"));
  }

  private fail(error: unknown): void {
    this.close(closeReasonOf(error), isConcordError(error) ? error.message.slice(0, 120) : "internal error");
  }

  /** Closes with the code for `reason`; counted once. */
  close(reason: CloseReason, text: string): void {
    if (this.closed) return;
    this.route.metrics.rejected("yjs", reason);
    this.ws.close(closeCodes[reason], text);
    this.teardown();
  }

  /** The socket closed (its close listener), or we closed it. */
  teardown(): void {
    if (this.closed && !this.room) return;
    this.closed = true;
    const { route } = this;
    route.keepAlives.remove(this);
    route.pings.remove(this);
    const room = this.room;
    this.room = undefined;
    if (!room) return;
    const removals = room.leave(this);
    if (removals.length > 0 && route.presence) route.presence.publish("yjs", this.id, encodeAwareness(removals));
    route.leaveRoom(room);
  }
}
