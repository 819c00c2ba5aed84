/**
 * What every Server-Sent Events route shares: the stream stays open until
 * the client goes away or the server shuts down, a comment line every
 * `keepAliveMs` keeps proxies from closing it, and a client that stops
 * reading is cut off once `maxQueuedBytes` of events wait for it (memory
 * stays bounded; it reconnects and reads what it missed).
 */
import { setMaxListeners } from "node:events";
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { Clock } from "../runtime/clock.ts";
import type { Principal, TokenTable } from "./auth.ts";

export interface EventStreamOptions {
  clock: Clock;
  /** A comment line this often keeps proxies from closing an idle stream. */
  keepAliveMs: number;
  /** Aborted when the server shuts down: every stream ends. */
  shutdown: AbortSignal;
  /** Bytes of events waiting for a slow client at most; past it the stream is closed. */
  maxQueuedBytes: number;
  /** The live tokens: a stream of a token revoked while it runs ends. */
  tokens?: TokenTable | undefined;
}

/** Sends one event (text written in order); returns false once the stream is over. */
export type SendEvent = (event: string, data: unknown) => boolean;

/** One SSE event with one line of JSON data. */
export const sseEvent = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/**
 * Streams events to the client: `start(send, end)` subscribes (and may send a
 * first event) and returns what ends the subscription, called exactly once
 * when the stream ends for any reason; `end()` ends it from the server side.
 */
export function eventStream(c: Context, options: EventStreamOptions, start: (send: SendEvent, end: () => void) => Promise<() => void>): Response {
  return streamSSE(c, async (stream) => {
    let over = false;
    let end = () => {};
    const ended = new Promise<void>((resolve) => (end = resolve));
    let queued = 0;
    const write = (text: string) => {
      if (over) return false;
      queued += text.length;
      if (queued > options.maxQueuedBytes) {
        over = true;
        // Its writes will never drain: drop the connection, not just the stream.
        (c.env as { outgoing?: { destroy(): void } } | undefined)?.outgoing?.destroy();
        end();
        return false;
      }
      void stream.write(text).then(() => void (queued -= text.length), () => end());
      return true;
    };
    const send: SendEvent = (event, data) => write(sseEvent(event, data));
    let cancelKeepAlive = () => {};
    const keepAlive = () => {
      if (!write(": keep-alive\n\n")) return;
      cancelKeepAlive = options.clock.timer(options.keepAliveMs, keepAlive);
    };
    // One listener per stream on the server-wide signal: removed when the stream ends, or every stream ever made would stay attached (and keep its closure alive).
    const onShutdown = () => end();
    let unsubscribe = () => {};
    const tokenHash = (c.get("principal") as Principal | undefined)?.tokenHash;
    const stopRevocation = options.tokens && tokenHash ? options.tokens.onRevoke((hash) => hash === tokenHash && end()) : () => undefined;
    try {
      if (options.shutdown.aborted) return;
      // Every open stream listens, so eleven open streams are not a leak: without this Node warns
      // (MaxListenersExceededWarning) at the eleventh. Each listener is removed when its stream ends.
      setMaxListeners(0, options.shutdown);
      options.shutdown.addEventListener("abort", onShutdown, { once: true });
      stream.onAbort(() => end());
      unsubscribe = await start(send, () => end());
      cancelKeepAlive = options.clock.timer(options.keepAliveMs, keepAlive);
      await ended;
    } finally {
      over = true;
      options.shutdown.removeEventListener("abort", onShutdown);
      stopRevocation();
      unsubscribe();
      cancelKeepAlive();
    }
  });
}
