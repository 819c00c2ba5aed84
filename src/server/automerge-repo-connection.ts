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
import type { RepoPeer } from "./automerge-repo-room.ts";
import { decodeRepoMessage, encodeRepoMessage, protocolVersion, type RepoMessage } from "./automerge-repo-codec.ts";

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

export interface RepoConnectionDeps {
  ws: WebSocket;
  principal: Principal;
  clock: Clock;
  metrics: SocketMetrics;
  limits: RepoConnectionLimits;
  serverPeerId: string;
  joined(connection: RepoConnection): void;
  sync(connection: RepoConnection, type: "sync" | "request", documentId: string, data: Uint8Array): Promise<void>;
  ephemeral(connection: RepoConnection, message: Extract<RepoMessage, { type: "ephemeral" }>): void;
  closed(connection: RepoConnection): void;
}

export class RepoConnection implements RepoPeer {
  peerId = "";
  readonly canWrite: boolean;
  private closed = false;
  private outstanding = 0;
  private readonly bucket: MessageBucket;
  private awaitingPong = false;
  private stopPing = () => {};

  constructor(private readonly deps: RepoConnectionDeps) {
    this.canWrite = deps.principal.scopes.has("write");
    this.bucket = new MessageBucket(deps.clock, deps.limits.messagesPerSecond, deps.limits.messageBurst);
  }

  start(): void {
    const { ws } = this.deps;
    ws.on("message", (data: Buffer, isBinary: boolean) => this.receive(data, isBinary));
    ws.on("pong", () => (this.awaitingPong = false));
    ws.once("close", () => this.teardown());
    this.ping();
  }

  send(message: Record<string, unknown>): void {
    const { ws, metrics, serverPeerId } = this.deps;
    if (this.closed || ws.readyState !== ws.OPEN) return;
    ws.send(encodeRepoMessage({ senderId: serverPeerId, targetId: this.peerId, ...message }));
    metrics.messageOut("automerge");
  }

  private receive(data: Buffer, isBinary: boolean): void {
    const { limits, metrics } = this.deps;
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
    if (!message.documentId.startsWith(this.deps.principal.prefix)) return this.close("forbidden", "this token may not reach this document");
    if (message.type === "ephemeral") return this.deps.ephemeral(this, message);
    if (this.outstanding >= limits.maxQueuedMessages) return this.close("backPressure", "too many sync messages waiting");
    this.outstanding++;
    this.deps.sync(this, message.type, message.documentId, message.data).then(
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
    this.deps.joined(this);
    this.send({ type: "peer", peerMetadata: { isEphemeral: false }, selectedProtocolVersion: protocolVersion });
  }

  private fail(error: unknown): void {
    this.close(closeReasonOf(error), isConcordError(error) ? error.message.slice(0, 120) : "internal error");
  }

  private ping(): void {
    const { clock, limits, ws } = this.deps;
    this.stopPing = clock.timer(limits.pingMs, () => {
      if (this.closed) return;
      if (this.awaitingPong) return ws.terminate();
      this.awaitingPong = true;
      ws.ping();
      this.ping();
    });
  }

  /** Closes with the code for `reason` ("replaced": 1000, the peer already has a newer socket). */
  close(reason: CloseReason | "replaced", text: string): void {
    if (this.closed) return;
    this.deps.metrics.rejected("automerge", reason);
    this.deps.ws.close(reason === "replaced" ? 1000 : closeCodes[reason], text);
    this.teardown();
  }

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopPing();
    this.deps.closed(this);
  }
}
