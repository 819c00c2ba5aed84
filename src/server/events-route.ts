/**
 * GET /v1/docs/:id/events: Server-Sent Events, one `change` event per durable
 * change of the document (local or replicated), carrying the delta in
 * base64 so a client can apply it to its own copy. The first event,
 * `ready`, carries the current version. The subscription ends when the
 * client goes away or the server shuts down (src/server/event-stream.ts).
 */
import { Hono } from "hono";
import type { Replica } from "../replica/replica.ts";
import { authorize } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import { eventStream, type EventStreamOptions } from "./event-stream.ts";

export type EventsRouteOptions = EventStreamOptions;

export function eventsRoute(replica: Replica, options: EventsRouteOptions): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/:id/events", async (c) => {
    const id = c.req.param("id");
    authorize(c.get("principal"), "read", id);
    const view = await replica.head(id); // 404 / 410 before the stream starts
    return eventStream(c, options, async (send) => {
      const unsubscribe = replica.subscribe(id, (change) => {
        send("change", { id: change.id, version: change.version, origin: change.origin, delta: Buffer.from(change.delta).toString("base64") });
      });
      send("ready", { id, kind: view.kind, version: view.version });
      return unsubscribe;
    });
  });
  return app;
}
