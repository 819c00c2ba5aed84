/**
 * One automerge-repo socket: the join/peer handshake, then sync, request
 * and ephemeral messages handed to the route, with the socket's limits
 * (frame size, frames per second, work outstanding) and a WebSocket ping
 * every 5 s, as the stock server adapter does.
 */
import type { WebSocket } from "ws";
import { isConcordError } from "../errors.ts";
import type { Clock } from "../runtime/clock.ts";
import type { Principal } from "./auth.ts";
import { closeCodes, closeReasonOf, type CloseReason } from "./socket-close-codes.ts";
import { MessageBucket } from "./socket-message-bucket.ts";
import type { SocketMetrics } from "./socket-metrics.ts";
import type { PingedSocket } from "./socket-pings.ts";
import type { DeadlineQueue } from "./deadline-queue.ts";
import type { RepoPeer } from "./automerge-repo-room.ts";
import { decodeRepoMessage, encodeRepoMessage, protocolVersion, type RepoMessage } from "./automerge-repo-codec.ts";
import { listenTo } from "./socket-listeners.ts";

export interface RepoConnectionLimits {
  maxMessageBytes: number;
  /** Sync messages being handled at once for this socket (1013 beyond). */
  maxQueuedMessages: number;
  messagesPerSecond: number;
  messageBurst: number;
  pingMs: number;
  /** (sessionId, count) pairs remembered to deduplicate ephemeral messages. */
  maxEphemeralIds: number;
}

/**
 * What every socket of the route shares, made once per route
 * (automerge-repo-socket.ts), so a socket's own state stays small.
 */
export interface RepoRouteContext {
  clock: Clock;
  metrics: SocketMetrics;
  limits: RepoConnectionLimits;
  serverPeerId: string;
  joined(connection: RepoConnection): void;
  sync(connection: RepoConnection, type: "sync" | "request", documentId: string, data: Uint8Array): Promise<void>;
  ephemeral(connection: RepoConnection, message: Extract<RepoMessage, { type: "ephemeral" }>): void;
  closed(connection: RepoConnection): void;
  /** The route's sockets' pings (socket-pings.ts). */
  pings: DeadlineQueue<PingedSocket>;
}

export class RepoConnection implements RepoPeer, PingedSocket {
  peerId = "";
  readonly canWrite: boolean;
  awaitingPong = false;
  private closed = false;
  private outstanding = 0;
  private readonly bucket: MessageBucket;

  constructor(readonly ws: WebSocket, private readonly principal: Principal, private readonly route: RepoRouteContext) {
    this.canWrite = principal.scopes.has("write");
    this.bucket = new MessageBucket(route.clock, route.limits.messagesPerSecond, route.limits.messageBurst);
  }

  start(): void {
    const { ws } = this;
    listenTo(ws, this);
    this.route.pings.touch(this);
  }

  send(message: Record<string, unknown>): void {
    const { ws } = this;
    const { metrics, serverPeerId } = this.route;
    if (this.closed || ws.readyState !== ws.OPEN) return;
    ws.send(encodeRepoMessage({ senderId: serverPeerId, targetId: this.peerId, ...message }));
    metrics.messageOut("automerge");
  }

  /** A frame from the socket (its message listener). */
  receive(data: Buffer, isBinary: boolean): void {
    const { limits, metrics } = this.route;
    if (this.closed) return;
    if (!isBinary) return this.close("malformed", "automerge-repo frames are binary CBOR");
    if (data.length > limits.maxMessageBytes) return this.close("tooLarge", `a frame is over ${limits.maxMessageBytes} bytes`);
    if (!this.bucket.take()) return this.close("rateLimited", `more than ${limits.messagesPerSecond} frames per second`);
    let message: RepoMessage;
    try {
      message = decodeRepoMessage(new Uint8Array(data.buffer, data.byteOffset, data.length));
    } catch {
      return this.close("malformed", "a frame is not an automerge-repo message");
    }
    metrics.messageIn("automerge");
    if (message.type === "join") return this.join(message);
    if (this.peerId === "") return this.close("malformed", "send join first");
    if (message.type === "other") return; // leave, remote-heads-changed, remote-subscription-change: advisory here
    if (message.senderId !== this.peerId) return this.close("malformed", "senderId is not the peer that joined");
    if (!message.documentId.startsWith(this.principal.prefix)) return this.close("forbidden", "this token may not reach this document");
    if (message.type === "ephemeral") return this.route.ephemeral(this, message);
    if (this.outstanding >= limits.maxQueuedMessages) return this.close("backPressure", "too many sync messages waiting");
    this.outstanding++;
    this.route.sync(this, message.type, message.documentId, message.data).then(
      () => void this.outstanding--,
      (error: unknown) => {
        this.outstanding--;
        this.fail(error);
      },
    );
  }

  private join(message: Extract<RepoMessage, { type: "join" }>): void {
    if (this.peerId !== "") return this.close("malformed", "join sent twice");
    this.peerId = message.senderId;
    if (!message.supportedProtocolVersions.includes(protocolVersion)) {
      this.send({ type: "error", message: "unsupported protocol version" });
      return this.close("malformed", "unsupported protocol version");
    }
    this.route.joined(this);
    this.send({ type: "peer", peerMetadata: { isEphemeral: false }, selectedProtocolVersion: protocolVersion });
  }

  private fail(error: unknown): void {
    this.close(closeReasonOf(error), isConcordError(error) ? error.message.slice(0, 120) : "internal error");
  }

  /** Closes with the code for `reason` ("replaced": 1000, the peer already has a newer socket). */
  close(reason: CloseReason | "replaced", text: string): void {
    if (this.closed) return;
    this.route.metrics.rejected("automerge", reason);
    this.ws.close(reason === "replaced" ? 1000 : closeCodes[reason], text);
    this.teardown();
  }

  /** The socket closed (its close listener), or we closed it. */
  teardown(): void {
    if (this.closed) return;
    this.closed = true;
    this.route.pings.remove(this);
    this.route.closed(this);
  }
}
