/**
 * Gossip over HTTP: each frame is one POST to the peer's /internal/gossip,
 * the response body is the answer frame. fetch keeps connections alive
 * between calls; every call has a deadline (AbortSignal.timeout). Incoming
 * frames arrive through the app's gossip route, which calls `handle`.
 */
import { ConcordError } from "../errors.ts";
import type { Transport } from "../gossip/transport.ts";
import { gossipPath } from "./gossip-route.ts";

export interface HttpTransportOptions {
  /** Peer id → base URL (from the topology), e.g. "https://eu-west.example.com". */
  urls: ReadonlyMap<string, string>;
  /** Deadline for one frame's round trip, ms. Default 5000. */
  timeoutMs?: number;
}

export interface HttpTransport extends Transport {
  /** Passes an incoming frame to the handler gossip installed (empty answer when none yet: rejected). */
  handle(frame: Uint8Array): Promise<Uint8Array>;
}

export function createHttpTransport(options: HttpTransportOptions): HttpTransport {
  const timeoutMs = options.timeoutMs ?? 5000;
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
          signal: AbortSignal.timeout(timeoutMs),
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
