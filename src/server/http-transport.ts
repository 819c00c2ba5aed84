/**
 * Gossip over HTTP: each frame is one POST to the peer's /internal/gossip,
 * the response body is the answer frame. fetch keeps connections alive
 * between calls; every call has a deadline (AbortSignal.timeout) that grows
 * with the frame's size. Incoming
 * frames arrive through the app's gossip route, which calls `handle`.
 */
import { ConcordError } from "../errors.ts";
import type { Transport } from "../gossip/transport.ts";
import { gossipPath } from "./gossip-route.ts";

export interface HttpTransportOptions {
  /** Peer id → base URL (from the topology), e.g. "https://eu-west.example.com". */
  urls: ReadonlyMap<string, string>;
  /** Deadline for one frame's round trip, ms, before the allowance for its size. Default 5000. */
  timeoutMs?: number;
  /**
   * Extra deadline per MiB of request frame, ms. Default 10000: a full push
   * (1 MiB) is applied and made durable at the receiver before it is
   * answered, and a deadline shorter than that makes the sender send the
   * same batch again while the receiver is still applying the first copy.
   */
  timeoutPerMiBMs?: number;
}

/** The deadline of one round trip carrying `bytes`: fixed part plus a part that grows with the size. */
export function gossipDeadline(bytes: number, timeoutMs: number, perMiBMs: number): number {
  return Math.ceil(timeoutMs + (bytes / (1 << 20)) * perMiBMs);
}

export interface HttpTransport extends Transport {
  /** Passes an incoming frame to the handler gossip installed (empty answer when none yet: rejected). */
  handle(frame: Uint8Array): Promise<Uint8Array>;
}

export function createHttpTransport(options: HttpTransportOptions): HttpTransport {
  const timeoutMs = options.timeoutMs ?? 5000;
  const perMiBMs = options.timeoutPerMiBMs ?? 10_000;
  let handler: ((frame: Uint8Array) => Promise<Uint8Array>) | undefined;
  return {
    async send(peer, frame) {
      const base = options.urls.get(peer);
      if (base === undefined) throw new ConcordError("unknown_peer", `no URL for peer ${peer}`);
      let response: Response;
      try {
        response = await fetch(base + gossipPath, {
          method: "POST",
          body: frame as Uint8Array<ArrayBuffer>,
          headers: { "content-type": "application/octet-stream" },
          signal: AbortSignal.timeout(gossipDeadline(frame.length, timeoutMs, perMiBMs)),
        });
      } catch (cause) {
        throw new ConcordError("unavailable", `cannot reach ${peer} at ${base}`, { cause });
      }
      const body = new Uint8Array(await response.arrayBuffer().catch(() => new ArrayBuffer(0)));
      if (!response.ok) throw new ConcordError("unavailable", `${peer} answered HTTP ${response.status}`);
      return body;
    },
    serve(h) {
      handler = h;
    },
    handle(frame) {
      return handler ? handler(frame) : Promise.resolve(new Uint8Array(0));
    },
  };
}
