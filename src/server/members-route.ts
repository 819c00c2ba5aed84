/**
 * GET /v1/admin/members (token scope "admin"): the processes of this region
 * and its duty leases, as the answering process last saw them (a region of
 * several processes, src/server/region-members.ts). A region of one process
 * answers with itself only: { members: [], single: true }.
 *
 *   { self: 1733616000, regionEpoch: 1733616002,
 *     members: [{ epoch, name, url, startedAt, silentMs, alive, self }],
 *     leases: [{ duty: "anti-entropy", holder, token, expiresInMs }] }
 */
import { Hono } from "hono";
import { authorize } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import type { RegionMembers } from "./region-members.ts";

export function membersRoute(members: (() => RegionMembers | undefined) | undefined): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/members", (c) => {
    authorize(c.get("principal"), "admin");
    const current = members?.();
    if (!current) return c.json({ single: true, members: [], leases: [] });
    return c.json({ self: current.epoch, ...current.status() });
  });
  return app;
}
