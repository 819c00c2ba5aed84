/**
 * Carries presence (presence-relay.ts) between regions over WebSockets:
 * each region opens one socket to each peer's `/internal/presence` and
 * sends; it receives on the sockets its peers opened. No tokens: every frame
 * is sealed with a key derived from the pair's X25519 keys (the gossip pair
 * key under another purpose), bound to sender and receiver, so nobody else
 * can read or forge one. Best effort and memory only: a frame that cannot go
 * now is dropped (clients re-announce every 15 s), a frame older than the
 * TTL is ignored, and each frame id is accepted once (a bounded recent set).
 *
 *   frame = varString(from) • seal(pairKey, body, aad = "concord-presence:" from ">" to)
 *   body  = varString(protocol) • varString(docId) • varUint(sentAtMs) • varString(frameId) • varUint8Array(payload)
 */
import * as encoding from "lib0/encoding";
import { WebSocket } from "ws";
import { ByteReader } from "../doc/byte-reader.ts";
import { deriveKey } from "../crypto/keyed-hash.ts";
import { open, seal } from "../crypto/seal.ts";
import { derivePairKey, type RegionKeyPair } from "../gossip/region-keys.ts";
import type { Clock } from "../runtime/clock.ts";
import type { Random } from "../runtime/random.ts";
import type { PresenceProtocol, PresenceRelay } from "./presence-relay.ts";
import type { SocketRoute } from "./socket-upgrade.ts";

export const presencePath = "/internal/presence";

export interface PresenceLinkOptions {
  self: string;
  keyPair: RegionKeyPair;
  /** Peer id → its X25519 public key. */
  peers: ReadonlyMap<string, Uint8Array>;
  /** Peer id → its base URL (http://host:port). */
  urls: ReadonlyMap<string, string>;
  clock: Clock;
  random: Random;
  /** Frames older than this are ignored, ms. Default 30,000 (y-protocols' outdated timeout). */
  ttlMs?: number;
  /** Frame ids remembered for deduplication. Default 4096. */
  maxRecentIds?: number;
  /** Bytes queued on a link before frames are dropped. Default 1 MiB. */
  maxBufferedBytes?: number;
  onRelay?(direction: "sent" | "received"): void;
}

export interface PresenceLink extends PresenceRelay {
  route: SocketRoute;
  close(): void;
}

const protocols: readonly PresenceProtocol[] = ["yjs", "automerge"];
const aad = (from: string, to: string) => new TextEncoder().encode(`concord-presence:${from}>${to}`);

export function createPresenceLink(options: PresenceLinkOptions): PresenceLink {
  const { self, clock, random } = options;
  const ttlMs = options.ttlMs ?? 30_000;
  const maxRecent = options.maxRecentIds ?? 4096;
  const maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
  const keys = new Map([...options.peers].map(([id, pub]) => [id, deriveKey(derivePairKey(options.keyPair, pub), "presence-link")]));
  const handlers = new Map<PresenceProtocol, (docId: string, payload: Uint8Array, from: string) => void>();
  const links = new Map<string, Outbound>();
  const recent = new Set<string>();
  const boot = Buffer.from(random.bytes(8)).toString("hex");
  let counter = 0;
  let closed = false;

  const accept = (frame: Uint8Array): void => {
    const reader = new ByteReader(frame);
    const from = reader.string();
    const key = keys.get(from);
    if (!key) return;
    const body = new ByteReader(open(key, reader.take(reader.remaining), aad(from, self), "presence frame"));
    const protocol = body.string() as PresenceProtocol;
    const docId = body.string();
    const sentAt = body.varUint();
    const id = `${from}/${body.string()}`;
    const payload = body.varBytes();
    if (!protocols.includes(protocol) || Math.abs(clock.now() - sentAt) > ttlMs || recent.has(id)) return;
    recent.add(id);
    if (recent.size > maxRecent) recent.delete(recent.values().next().value!);
    options.onRelay?.("received");
    handlers.get(protocol)?.(docId, payload, from);
  };

  const linkTo = (peer: string): Outbound => {
    let link = links.get(peer);
    if (!link) {
      link = new Outbound(`${options.urls.get(peer)!.replace(/^http/, "ws")}${presencePath}`, clock, random, maxBuffered);
      links.set(peer, link);
    }
    return link;
  };

  return {
    publish(protocol, docId, payload) {
      if (closed) return;
      const sentAt = clock.now();
      const frameId = `${boot}.${counter++}`;
      for (const [peer, key] of keys) {
        const body = encoding.createEncoder();
        encoding.writeVarString(body, protocol);
        encoding.writeVarString(body, docId);
        encoding.writeVarUint(body, sentAt);
        encoding.writeVarString(body, frameId);
        encoding.writeVarUint8Array(body, payload);
        const frame = encoding.createEncoder();
        encoding.writeVarString(frame, self);
        encoding.writeUint8Array(frame, seal(key, encoding.toUint8Array(body), aad(self, peer), random));
        if (linkTo(peer).send(encoding.toUint8Array(frame))) options.onRelay?.("sent");
      }
    },
    onMessage(protocol, handler) {
      handlers.set(protocol, handler);
    },
    route: {
      protocol: "presence",
      tokens: false,
      match: (pathname) => pathname === presencePath,
      handle(ws) {
        ws.on("message", (data: Buffer) => {
          try {
            accept(new Uint8Array(data.buffer, data.byteOffset, data.length));
          } catch {
            // A frame that does not open or decode is dropped: presence is best effort, and the socket may carry good ones.
          }
        });
        ws.on("error", () => ws.terminate());
      },
    },
    close() {
      closed = true;
      for (const link of links.values()) link.close();
    },
  };
}

/**
 * One socket to a peer: opened on first use, reopened (on the next send) after
 * a jittered back-off when it drops. Frames sent while it connects wait, up
 * to `maxWaiting`; they are dropped if it fails.
 */
class Outbound {
  private static readonly maxWaiting = 64;
  private ws: WebSocket | undefined;
  private waiting: Uint8Array[] = [];
  private retryAt = 0;
  private failures = 0;
  private closed = false;

  constructor(private readonly url: string, private readonly clock: Clock, private readonly random: Random, private readonly maxBuffered: number) {}

  /** Sends, or queues while connecting (true); false when the frame is dropped. */
  send(frame: Uint8Array): boolean {
    const ws = this.ws;
    if (ws?.readyState === WebSocket.OPEN) {
      if (ws.bufferedAmount > this.maxBuffered) return false;
      ws.send(frame);
      return true;
    }
    if (!ws) {
      if (this.clock.now() < this.retryAt) return false;
      this.connect();
    }
    if (this.waiting.length >= Outbound.maxWaiting) return false;
    this.waiting.push(frame);
    return true;
  }

  private connect(): void {
    if (this.closed) return;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.on("open", () => {
      this.failures = 0;
      for (const frame of this.waiting.splice(0)) ws.send(frame);
    });
    ws.on("error", () => ws.terminate());
    ws.on("close", () => {
      if (this.ws === ws) this.ws = undefined;
      this.waiting = [];
      this.failures++;
      // Jittered so that regions restarting together do not retry in step.
      const backoff = Math.min(30_000, 250 * 2 ** Math.min(this.failures, 7));
      this.retryAt = this.clock.now() + backoff / 2 + this.random.float() * (backoff / 2);
    });
  }

  close(): void {
    this.closed = true;
    this.ws?.close(1001, "region stopping");
  }
}
