/**
 * Admin endpoints for quarantined documents (src/replica/doc-quarantine.ts),
 * token scope "admin":
 *   GET    /v1/admin/quarantine          { quarantined: [ids] }, oldest first
 *   DELETE /v1/admin/quarantine?id=ID    serves ID again (404 when it is not quarantined);
 *                                        without id, releases every one
 * The id travels in the query, not the path: request logs redact document
 * ids in /v1/docs paths only, and never log query strings.
 */
import { Hono } from "hono";
import { ConcordError } from "../errors.ts";
import type { Replica } from "../replica/replica.ts";
import { authorize } from "./auth.ts";
import type { AppEnv } from "./env.ts";

export function quarantineRoutes(replica: Replica): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/quarantine", (c) => {
    authorize(c.get("principal"), "admin");
    return c.json({ quarantined: replica.quarantined() });
  });
  app.delete("/quarantine", (c) => {
    authorize(c.get("principal"), "admin");
    const id = c.req.query("id");
    const released = replica.releaseQuarantine(id);
    if (id !== undefined && !released) throw new ConcordError("not_found", `document "${id}" is not quarantined`);
    return c.json({ released });
  });
  return app;
}
