/**
 * POST /internal/gossip: one sealed frame in, one sealed frame out. No token:
 * a frame is authenticated by the key its sender shares with this region, so
 * anything forged, replayed or tampered is rejected (and counted) by gossip.
 *
 * Anyone can reach this route, so nothing is buffered on trust: the declared
 * size is checked first, then the first bytes of the body (the clear header:
 * a sender in the topology, this region as receiver) before the rest is read,
 * and only a few bodies are read at once per claimed sender and in all. A
 * non-peer's body is refused after at most `screenBytes`; a forger claiming a
 * real peer can hold at most `maxPerSender` bodies until they fail their MAC.
 */
import { Hono, type Context } from "hono";
import { ConcordError } from "../errors.ts";
import { screenBytes, type FrameRejection } from "../gossip/frame.ts";
import type { FrameRejectionEvent } from "../gossip/frame-refusal.ts";
import type { AppEnv } from "./env.ts";
import { errorResponse } from "./http-errors.ts";

/** What receives frames: Gossip.handle (an empty answer means "rejected"). */
export interface FrameHandler {
  handle(frame: Uint8Array): Promise<Uint8Array>;
  /** Told of a frame this route refused before handle() saw it (Gossip.refused counts it). */
  refused?(rejection: FrameRejectionEvent): void;
  /** Checks a frame's first bytes; throws (counted) for a non-peer, else returns the claimed sender (Gossip.screen). */
  screen?(prefix: Uint8Array): string;
}

export interface GossipRouteOptions {
  /** Largest frame read, bytes. */
  maxFrameBytes: number;
  /** Frames read at once from one claimed sender (429 past it). */
  maxPerSender: number;
  /** Frames read at once in all (429 past it). */
  maxInFlight: number;
}

export const gossipPath = "/internal/gossip";

type Reader = ReadableStreamDefaultReader<Uint8Array>;

/** Reads until `atLeast` bytes arrived or the body ended; at most `limit` bytes in all, else undefined. */
async function readUpTo(reader: Reader, chunks: Uint8Array[], had: number, atLeast: number, limit: number): Promise<{ bytes: number; done: boolean } | undefined> {
  let bytes = had;
  while (bytes < atLeast) {
    const { value, done } = await reader.read();
    if (done) return { bytes, done: true };
    bytes += value.length;
    if (bytes > limit) return undefined;
    chunks.push(value);
  }
  return { bytes, done: false };
}

function concat(chunks: Uint8Array[], bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

export function gossipRoute(handler: FrameHandler, options: GossipRouteOptions): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const bySender = new Map<string, number>();
  let inFlight = 0;
  const refuse = (c: Context, peer: string, reason: FrameRejection, error: ConcordError) => {
    handler.refused?.({ peer, reason, message: error.message });
    return errorResponse(c, error);
  };
  const tooLarge = () => new ConcordError("too_large", `a gossip frame is over ${options.maxFrameBytes} bytes`);
  const busy = (what: string) => new ConcordError("rate_limited", `over ${what} gossip frames arriving at once; retry shortly`, { details: { retryAfterMs: 1000 } });

  app.post("/gossip", async (c) => {
    const declared = Number(c.req.header("content-length") ?? 0);
    if (declared > options.maxFrameBytes) return refuse(c, "?", "oversized", tooLarge());
    if (inFlight >= options.maxInFlight) return refuse(c, "?", "busy", busy(String(options.maxInFlight)));
    inFlight++;
    const reader = (c.req.raw.body ?? new ReadableStream<Uint8Array>({ start: (s) => s.close() })).getReader();
    let sender: string | undefined;
    try {
      const chunks: Uint8Array[] = [];
      const first = await readUpTo(reader, chunks, 0, screenBytes, options.maxFrameBytes);
      if (!first) return refuse(c, "?", "oversized", tooLarge());
      try {
        sender = handler.screen?.(concat(chunks, first.bytes));
      } catch (error) {
        return errorResponse(c, error); // counted and reported by screen
      }
      if (sender !== undefined) {
        const held = bySender.get(sender) ?? 0;
        if (held >= options.maxPerSender) {
          const claimed = sender;
          sender = undefined; // holds no slot
          return refuse(c, claimed, "busy", busy(`${options.maxPerSender} "${claimed}"`));
        }
        bySender.set(sender, held + 1);
      }
      const all = first.done ? first : await readUpTo(reader, chunks, first.bytes, Infinity, options.maxFrameBytes);
      if (!all) return refuse(c, sender ?? "?", "oversized", tooLarge());
      const reply = await handler.handle(concat(chunks, all.bytes));
      if (reply.length === 0) return errorResponse(c, new ConcordError("bad_frame", "frame rejected"));
      c.header("Content-Type", "application/octet-stream");
      return c.body(reply as Uint8Array<ArrayBuffer>);
    } finally {
      // Whatever is left unread is dropped, not buffered.
      void reader.cancel().catch(() => undefined);
      inFlight--;
      if (sender !== undefined) {
        const left = bySender.get(sender)! - 1;
        if (left === 0) bySender.delete(sender);
        else bySender.set(sender, left);
      }
    }
  });
  return app;
}
