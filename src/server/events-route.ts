/**
 * GET /v1/docs/:id/events: Server-Sent Events, one `change` event per durable
 * change of the document (local or replicated), carrying the delta in
 * base64 so a client can apply it to its own copy. The first event,
 * `ready`, carries the current version. The subscription ends when the
 * client goes away or the server shuts down.
 */
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { Replica } from "../replica/replica.ts";
import type { Clock } from "../runtime/clock.ts";
import { authorize } from "./auth.ts";
import type { AppEnv } from "./env.ts";

export interface EventsRouteOptions {
  clock: Clock;
  /** A comment line this often keeps proxies from closing an idle stream. */
  keepAliveMs: number;
  /** Aborted when the server shuts down: every stream ends. */
  shutdown: AbortSignal;
}

export function eventsRoute(replica: Replica, options: EventsRouteOptions): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/:id/events", async (c) => {
    const id = c.req.param("id");
    authorize(c.get("principal"), "read", id);
    const view = await replica.read(id); // 404 / 410 before the stream starts
    return streamSSE(c, async (stream) => {
      const unsubscribe = replica.subscribe(id, (change) => {
        void stream.writeSSE({
          event: "change",
          data: JSON.stringify({ id: change.id, version: change.version, origin: change.origin, delta: Buffer.from(change.delta).toString("base64") }),
        });
      });
      let cancelKeepAlive = () => {};
      // One listener per stream on the server-wide signal: removed when the stream ends, or every subscription ever made would stay attached (and keep its closure alive).
      let stopWatchingShutdown = () => {};
      const keepAlive = () => {
        void stream.write(": keep-alive\n\n");
        cancelKeepAlive = options.clock.timer(options.keepAliveMs, keepAlive);
      };
      try {
        await stream.writeSSE({ event: "ready", data: JSON.stringify({ id, kind: view.kind, version: view.version }) });
        cancelKeepAlive = options.clock.timer(options.keepAliveMs, keepAlive);
        await new Promise<void>((resolve) => {
          if (options.shutdown.aborted) return resolve();
          stream.onAbort(resolve);
          const onShutdown = () => resolve();
          options.shutdown.addEventListener("abort", onShutdown, { once: true });
          stopWatchingShutdown = () => options.shutdown.removeEventListener("abort", onShutdown);
        });
      } finally {
        stopWatchingShutdown();
        unsubscribe();
        cancelKeepAlive();
      }
    });
  });
  return app;
}
