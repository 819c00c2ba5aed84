/**
 * The multi-document change feed: one Server-Sent Events stream for every
 * document under a prefix and/or a list of ids, so a client watching many
 * documents needs one connection, not one per document.
 *
 *   GET  /v1/events?prefix=notes/            every document under notes/
 *   GET  /v1/events?id=a&id=b                these documents
 *   POST /v1/events {"ids":[...], "prefix"?}  a list too long for a URL
 *
 * Without either, the prefix is the token's own (everything it may read).
 * The same rules as a read: the read scope, and every id and the prefix
 * under the token's prefix. Events: `ready` first (with each listed id's
 * kind and version, or its state when absent or deleted; a prefix is not
 * listed: read or `?since` what you need), then `change` { id, version,
 * origin, delta (base64) } and `delete` { id, origin } as they become
 * durable here, in that order.
 */
import { Hono, type Context } from "hono";
import { isConcordError } from "../errors.ts";
import type { Replica } from "../replica/replica.ts";
import { authorize } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import { eventStream, type EventStreamOptions } from "./event-stream.ts";
import { fail } from "./http-errors.ts";

export interface FeedRouteOptions extends EventStreamOptions {
  /** Most ids one stream may list. */
  maxIds: number;
}

interface Selection {
  prefix: string | undefined;
  ids: string[];
}

/** The ids' current heads, or their state when they are not here. */
async function heads(replica: Replica, ids: readonly string[]): Promise<unknown[]> {
  return Promise.all(ids.map(async (id) => {
    try {
      const { kind, version } = await replica.head(id);
      return { id, kind, version };
    } catch (error) {
      if (isConcordError(error, "not_found")) return { id, state: "absent" };
      if (isConcordError(error, "deleted")) return { id, state: "deleted" };
      throw error;
    }
  }));
}

function checked(c: Context<AppEnv>, prefix: unknown, ids: unknown, maxIds: number): Selection {
  if (prefix !== undefined && typeof prefix !== "string") fail("invalid_argument", '"prefix" must be a string');
  if (!Array.isArray(ids) || !ids.every((id) => typeof id === "string" && id.length > 0)) fail("invalid_argument", '"ids" must be a list of document ids');
  if (ids.length > maxIds) fail("too_large", `one event stream follows at most ${maxIds} ids; use a prefix, or more streams`);
  const principal = c.get("principal");
  const unique = [...new Set(ids as string[])];
  const selection = { prefix: prefix ?? (unique.length === 0 ? principal.prefix : undefined), ids: unique };
  if (selection.prefix !== undefined) authorize(principal, "read", selection.prefix);
  for (const id of unique) authorize(principal, "read", id);
  return selection;
}

/** Routes under /v1. */
export function feedRoute(replica: Replica, options: FeedRouteOptions): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const stream = async (c: Context<AppEnv>, { prefix, ids }: Selection) => {
    const listed = new Set(ids);
    const wanted = (id: string) => listed.has(id) || (prefix !== undefined && id.startsWith(prefix));
    return eventStream(c, options, async (send, end) => {
      // Subscribed before the heads are read, held back until `ready` is sent: nothing in between is lost.
      // What is held counts against the same bound as what waits for the client.
      let held: Array<[string, unknown]> | undefined = [];
      let heldBytes = 0;
      const unsubscribe = replica.observe((event) => {
        if (!wanted(event.id)) return;
        const message: [string, unknown] = event.type === "change"
          ? ["change", { id: event.id, version: event.version, origin: event.origin, delta: Buffer.from(event.delta).toString("base64") }]
          : ["delete", { id: event.id, origin: event.origin }];
        if (!held) return void send(...message);
        heldBytes += event.type === "change" ? event.delta.length * 1.34 + 256 : 256;
        if (heldBytes <= options.maxQueuedBytes) held.push(message);
        else {
          held = [];
          end();
        }
      });
      try {
        send("ready", { ...(prefix !== undefined ? { prefix } : {}), docs: await heads(replica, ids) });
      } catch (error) {
        unsubscribe();
        throw error;
      }
      for (const message of held) send(...message);
      held = undefined;
      return unsubscribe;
    });
  };
  app.get("/events", (c) => stream(c, checked(c, c.req.query("prefix"), c.req.queries("id") ?? [], options.maxIds)));
  app.post("/events", async (c) => {
    const body = (await c.req.json().catch(() => fail("invalid_argument", 'the body must be JSON: { "ids"?: [...], "prefix"?: "..." }'))) as { ids?: unknown; prefix?: unknown } | null;
    if (typeof body !== "object" || body === null) fail("invalid_argument", 'the body must be JSON: { "ids"?: [...], "prefix"?: "..." }');
    return stream(c, checked(c, body.prefix, body.ids ?? [], options.maxIds));
  });
  return app;
}
