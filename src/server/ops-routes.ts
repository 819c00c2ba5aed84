/**
 * Operator endpoints: /healthz (the process answers), /readyz (the store is
 * open and the region knows its peers), /metrics (Prometheus text) and / (the
 * status page). None needs a token: they carry no document data. Put them
 * behind the internal network in production.
 *
 * Readiness does not wait for peers to be up: a region that cannot reach the
 * others still takes writes (that is what active-active is for), so taking it
 * out of a load balancer then would turn a partition into an outage. /readyz
 * lists every peer with its state instead, for dashboards and scripts.
 */
import { Hono } from "hono";
import type { Replica } from "../replica/replica.ts";
import type { AppEnv } from "./env.ts";
import type { ServerMetrics } from "./metrics.ts";
import { statusPage } from "./status-page.ts";

export interface Readiness {
  ready: boolean;
  /** Why not, for humans. */
  reason?: string;
}

export function opsRoutes(replica: Replica, metrics: ServerMetrics, readiness: () => Readiness, options: { authOff: boolean }): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/healthz", (c) => c.json({ ok: true }));
  app.get("/readyz", (c) => {
    const r = readiness();
    const peers = Object.fromEntries(Object.entries(replica.stats().replication?.peers ?? {}).map(([id, p]) => [id, p.up ? "up" : "down"]));
    return c.json({ ready: r.ready, region: replica.region, peers, ...(r.reason ? { reason: r.reason } : {}) }, r.ready ? 200 : 503);
  });
  app.get("/metrics", async (c) => {
    c.header("Content-Type", metrics.registry.contentType);
    return c.body(await metrics.registry.metrics());
  });
  app.get("/", (c) => c.html(statusPage(replica.stats(), { authOff: options.authOff })));
  return app;
}
